"""Fargate's task sizes and stop timeout ceiling, shared by the config schema (early, named
errors), ApiService and the API model checks."""

# The longest stopTimeout (seconds) ECS allows a container on Fargate
# (ContainerDefinition.stopTimeout): ApiService keeps within it, the model checks enforce it.
MAX_STOP_TIMEOUT_SECONDS = 120

# cpu units -> memory (MiB) Fargate offers with them.
FARGATE_SIZES: dict[int, tuple[int, ...]] = {
    256: (512, 1024, 2048),
    512: tuple(range(1024, 4097, 1024)),
    1024: tuple(range(2048, 8193, 1024)),
    2048: tuple(range(4096, 16385, 1024)),
    4096: tuple(range(8192, 30721, 1024)),
    8192: tuple(range(16384, 61441, 4096)),
    16384: tuple(range(32768, 122881, 8192)),
}

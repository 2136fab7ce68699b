"""Compute policies: private tasks, rollback on failed deployments, locked-down containers with
secrets by ARN and logs shipped, scanned and immutable images pinned by digest in prod."""

from __future__ import annotations

from policies.notes_policies import compute
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    StackMutation,
    applied,
    assert_passes,
    check,
    check_stack,
    container,
    happy_path_test,
    mutation_test,
    on,
    removing,
    setting,
    snapshot,
    stack_mutation_test,
)

HAPPY: Happy = [
    (compute.ecs_no_public_ip, f.ecs_service),
    (compute.ecs_circuit_breaker_rollback, f.ecs_service),
    (compute.ecs_container_not_privileged, f.task_definition),
    (compute.ecs_container_read_only_root, f.task_definition),
    (compute.ecs_container_non_root, f.task_definition),
    (compute.ecs_secrets_by_arn, f.task_definition),
    (compute.ecs_no_plaintext_secrets, f.task_definition),
    (compute.ecs_container_logging, f.task_definition),
    (compute.ecr_scan_on_push, f.ecr_repository),
    (compute.ecr_immutable_tags, f.ecr_repository),
    (compute.ecr_kms_encryption, f.ecr_repository),
]

NON_ROOT = "ECS container 'api' must run as a non-root user."
LOGS = "ECS container 'api' must send its logs to CloudWatch Logs."
BREAKER = "ECS services must enable the deployment circuit breaker with rollback."
JWT = "ECS environment variable 'NOTES_JWT_SIGNING_KEY' must not carry a secret: use secrets."

MUTATIONS = [
    Mutation(
        compute.ecs_no_public_ip,
        f.ecs_service,
        setting("networkConfiguration.assignPublicIp", True),
        "ECS services must not assign public IPs to tasks.",
        "public IPs",
    ),
    Mutation(
        compute.ecs_circuit_breaker_rollback,
        f.ecs_service,
        setting("deploymentCircuitBreaker.rollback", False),
        BREAKER,
        "breaker without rollback",
    ),
    Mutation(
        compute.ecs_circuit_breaker_rollback,
        f.ecs_service,
        removing("deploymentCircuitBreaker"),
        BREAKER,
        "no breaker",
    ),
    Mutation(
        compute.ecs_container_not_privileged,
        f.task_definition,
        container("privileged", True),
        "ECS container 'api' must not run privileged.",
        "privileged",
    ),
    Mutation(
        compute.ecs_container_read_only_root,
        f.task_definition,
        container("readonlyRootFilesystem", False),
        "ECS container 'api' must use a read-only root filesystem.",
        "writable root",
    ),
    Mutation(
        compute.ecs_container_read_only_root,
        f.task_definition,
        container("readonlyRootFilesystem", None),
        "ECS container 'api' must use a read-only root filesystem.",
        "the writable default",
    ),
    Mutation(compute.ecs_container_non_root, f.task_definition, container("user", "0:0"), NON_ROOT, "uid 0"),
    Mutation(compute.ecs_container_non_root, f.task_definition, container("user", "root"), NON_ROOT, "root"),
    Mutation(
        compute.ecs_container_non_root,
        f.task_definition,
        container("user", None),
        NON_ROOT,
        "whatever the image says",
    ),
    Mutation(
        compute.ecs_secrets_by_arn,
        f.task_definition,
        container("secrets", [{"name": "NOTES_JWT_SIGNING_KEY", "valueFrom": "notes/prod/jwt-signing-key"}]),
        "ECS secret 'NOTES_JWT_SIGNING_KEY' must reference a Secrets Manager or SSM ARN.",
        "a bare name",
    ),
    Mutation(
        compute.ecs_no_plaintext_secrets,
        f.task_definition,
        container("environment", [{"name": "NOTES_JWT_SIGNING_KEY", "value": "c2VjcmV0"}]),
        JWT,
        "a secret-looking name",
    ),
    Mutation(
        compute.ecs_no_plaintext_secrets,
        f.task_definition,
        container(
            "environment",
            [{"name": "NOTES_MONGODB_URI", "value": "mongodb://notesadmin:hunter2@docdb:27017/notes"}],
        ),
        "ECS environment variable 'NOTES_MONGODB_URI' must not carry a secret: use secrets.",
        "a password in a URL",
    ),
    Mutation(
        compute.ecs_no_plaintext_secrets,
        f.task_definition,
        container("environment", [{"name": "NOTES_JWT_SIGNING_KEY_SECRET_ARN", "value": "c2VjcmV0"}]),
        "ECS environment variable 'NOTES_JWT_SIGNING_KEY_SECRET_ARN' must not carry a secret: use secrets.",
        "a value where a secret's ARN belongs",
    ),
    Mutation(
        compute.ecs_no_plaintext_secrets,
        f.task_definition,
        container("environment", [{"name": "NOTES_UPLOADS", "value": "AKIAABCDEFGHIJKLMNOP"}]),
        "ECS environment variable 'NOTES_UPLOADS' must not carry a secret: use secrets.",
        "an access key id",
    ),
    Mutation(
        compute.ecs_container_logging,
        f.task_definition,
        container("logConfiguration", None),
        LOGS,
        "no log configuration",
    ),
    Mutation(
        compute.ecs_container_logging,
        f.task_definition,
        container("logConfiguration", {"logDriver": "json-file"}),
        LOGS,
        "logs left on the host",
    ),
    Mutation(
        compute.ecs_container_logging,
        f.task_definition,
        container("logConfiguration", {"logDriver": "awslogs", "options": {"awslogs-region": "eu-west-1"}}),
        LOGS,
        "awslogs without a group",
    ),
    Mutation(
        compute.ecr_scan_on_push,
        f.ecr_repository,
        setting("imageScanningConfiguration.scanOnPush", False),
        "ECR repositories must scan images on push.",
        "no scan",
    ),
    Mutation(
        compute.ecr_immutable_tags,
        f.ecr_repository,
        setting("imageTagMutability", "MUTABLE"),
        "ECR repositories must use immutable tags.",
        "mutable tags",
    ),
    Mutation(
        compute.ecr_kms_encryption,
        f.ecr_repository,
        setting("encryptionConfigurations.0.encryptionType", "AES256"),
        "ECR repositories must encrypt images with KMS.",
        "AES256",
    ),
    Mutation(
        compute.ecr_kms_encryption,
        f.ecr_repository,
        removing("encryptionConfigurations"),
        "ECR repositories must encrypt images with KMS.",
        "the default",
    ),
]

TASK = f.task_definition()["urn"]
STACK_MUTATIONS = [
    StackMutation(
        compute.image_pinned_by_digest,
        on(
            "prod-api-task",
            container("image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/prod/notes-api:1.4.2"),
        ),
        [("ECS container 'api' must pin its image by digest.", TASK)],
        "a tag in prod",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, f.prod_graph)


def test_the_prod_image_is_pinned() -> None:
    assert check_stack(compute.image_pinned_by_digest, f.prod_graph()) == []


def test_staging_may_run_a_tag() -> None:
    # GIVEN staging's task running a tag, WHEN validated with the default stacks (prod), THEN it passes
    graph = snapshot("staging")
    on(
        "staging-api-task",
        container("image", "123456789012.dkr.ecr.eu-west-1.amazonaws.com/staging/notes-api:0000000"),
    )(graph)
    assert check_stack(compute.image_pinned_by_digest, graph) == []
    # ... and fails once staging is listed
    assert check_stack(compute.image_pinned_by_digest, graph, {"stacks": ["staging", "prod"]}) != []


def test_a_name_declared_harmless_is_not_a_secret() -> None:
    # GIVEN a variable whose name looks secret but is not, WHEN the pack is told so, THEN it passes
    task = applied(
        f.task_definition(), container("environment", [{"name": "NOTES_TOKEN_TTL", "value": "900"}])
    )
    assert check(compute.ecs_no_plaintext_secrets, task, settings={"allowedNames": ["NOTES_TOKEN_TTL"]}) == []


def test_a_codedeploy_service_rolls_back_by_itself() -> None:
    service = applied(
        f.ecs_service(),
        removing("deploymentCircuitBreaker"),
        setting("deploymentController", {"type": "CODE_DEPLOY"}),
    )
    assert_passes(compute.ecs_circuit_breaker_rollback, service)


def test_a_secrets_arn_in_the_plain_environment_is_a_reference_not_a_secret() -> None:
    # GIVEN the API's task naming the secret it reads itself, by ARN
    arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:notes/prod/docdb-app-AbCdEf"
    task = f.task_definition()
    container("environment", [{"name": "NOTES_MONGODB_URI_SECRET_ARN", "value": arn}])(task)
    # THEN the rule lets it through
    assert check(compute.ecs_no_plaintext_secrets, task) == []

"""One ComponentResource per concern.

Shape every component follows (see STYLE.md): a frozen dataclass of typed args next to the
component, documenting each default; type token ``notes:infra:<Name>``; children named
``f"{name}-<role>"`` with ``parent=self`` (providers flow down from the parent); outputs as
typed public attributes; ``register_outputs`` last. Components never read Pulumi config and
never create resources inside ``apply()``. Impossible argument combinations raise
``ValueError`` in the constructor with a message that says what to change.
"""

"""How long Secrets Manager keeps a deleted secret: the rule the secrets (``infra.secrets``) and
the stack schema (``stacks.sections``, which must load without the Pulumi SDKs) share."""

from __future__ import annotations

# Secrets Manager keeps a deleted secret, and reserves its name, for 7-30 days (DeleteSecret's
# RecoveryWindowInDays, botocore's secretsmanager model). 0 is the provider's spelling of
# ForceDeleteWithoutRecovery: terraform-provider-aws internal/service/secretsmanager/secret.go,
# resourceSecretDelete, sends it when recovery_window_in_days == 0, and CreateSecret retries while
# AWS finishes the deletion, so a destroyed stack can be created again at once. The delete reads
# the window from state: a change to 0 takes effect only after a `pulumi up` has recorded it.
# 0 makes a mistaken delete final: the stack schema allows it only in stacks that protect no data.
FORCE_DELETE = 0
RECOVERY_WINDOW_DAYS = (FORCE_DELETE, *range(7, 31))
DEFAULT_RECOVERY_WINDOW_DAYS = 30  # AWS's own default when a delete names none


def recovery_window_problem(days: int) -> str:
    """Why Secrets Manager would refuse ``days`` as a recovery window; "" when it accepts it."""
    if days in RECOVERY_WINDOW_DAYS:
        return ""
    return "Secrets Manager allows 7 to 30 days, or 0 to delete at once"

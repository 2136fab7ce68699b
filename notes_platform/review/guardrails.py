"""Risk rules for the day-2 guard rails: secret rotation, backups, Vault Lock and the cost budget.

Needs explicit approval: a rotation that runs less often or loses its schedule expression's
bound; a backup rule whose recovery points (or their copies) are kept for less time, that stops
copying to the second region, or that is removed; and a Vault Lock being added or changed, the
one change here that cannot be taken back: once its cooling-off days pass, nobody can remove the
lock or delete a recovery point early (AWS Backup Developer Guide, "AWS Backup Vault Lock").
Deserves a look: a budget's limit raised or one of its alerts dropped or raised. Deleting any of
these resources is ``rules.PROTECTION_RESOURCES``'s.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from notes_platform.review import redact
from notes_platform.review.findings import Context, Finding, Level, dig, inputs
from notes_platform.review.preview import Step

SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 (a type token)
BACKUP_PLAN = "aws:backup/plan:Plan"
VAULT_LOCK = "aws:backup/vaultLockConfiguration:VaultLockConfiguration"
BUDGET = "aws:budgets/budget:Budget"


def _number(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def rotation_loosened(step: Step, ctx: Context) -> list[Finding]:
    if step.type != SECRET_ROTATION or step.old is None or step.new is None:
        return []
    old, new = inputs(step)
    lines = []
    before, after = (dig(side, "rotationRules.automaticallyAfterDays") for side in (old, new))
    if isinstance(before, int) and (after is None or (isinstance(after, int) and after > before)):
        lines.append(redact.change("rotationRules.automaticallyAfterDays", before, after))
    before, after = (dig(side, "rotationRules.scheduleExpression") for side in (old, new))
    if before != after and before is not None:
        lines.append(redact.change("rotationRules.scheduleExpression", before, after))
    if old.get("rotationLambdaArn") and not new.get("rotationLambdaArn"):
        lines.append("rotationLambdaArn removed: nothing can rotate a secret of ours without it")
    if not lines:
        return []
    return [Finding(Level.APPROVAL, "rotation-loosened", step.urn, "secret rotates less often", tuple(lines))]


def _rules(plan: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    return {str(r.get("ruleName")): r for r in plan.get("rules") or [] if isinstance(r, Mapping)}


def _copies(rule: Mapping[str, Any]) -> dict[str, Any]:
    """Destination vault -> days its copies are kept (None: kept until deleted)."""
    return {
        str(c.get("destinationVaultArn")): dig(c, "lifecycle.deleteAfter")
        for c in rule.get("copyActions") or []
        if isinstance(c, Mapping)
    }


def _shorter(before: Any, after: Any) -> bool:
    """Kept for less time: a number going down, or from kept-for-good (None) to a number."""
    b, a = _number(before), _number(after)
    return (b is not None and a is not None and a < b) or (before is None and a is not None)


def backups_reduced(step: Step, ctx: Context) -> list[Finding]:
    if step.type != BACKUP_PLAN or step.old is None or step.new is None:
        return []
    old, new = (_rules(side) for side in inputs(step))
    lines = [f"rule {name}: removed" for name in sorted(set(old) - set(new))]
    for name in sorted(set(old) & set(new)):
        before, after = old[name], new[name]
        keep_before, keep_after = dig(before, "lifecycle.deleteAfter"), dig(after, "lifecycle.deleteAfter")
        if _shorter(keep_before, keep_after):
            lines.append(f"rule {name}: " + redact.change("lifecycle.deleteAfter", keep_before, keep_after))
        copies_before, copies_after = _copies(before), _copies(after)
        for vault in sorted(set(copies_before) - set(copies_after)):
            lines.append(f"rule {name}: no longer copied to {vault}")
        for vault in sorted(set(copies_before) & set(copies_after)):
            if _shorter(copies_before[vault], copies_after[vault]):
                change = redact.change("lifecycle.deleteAfter", copies_before[vault], copies_after[vault])
                lines.append(f"rule {name}: copies to {vault}: {change}")
    if not lines:
        return []
    title = "backups kept for less or not copied"
    return [Finding(Level.APPROVAL, "backups-reduced", step.urn, title, tuple(lines))]


def vault_lock(step: Step, ctx: Context) -> list[Finding]:
    if step.type != VAULT_LOCK or step.new is None or step.op in ("same", "delete"):
        return []
    old, new = inputs(step)
    keys = ("changeableForDays", "minRetentionDays", "maxRetentionDays")
    lines = [redact.change(k, old.get(k), new.get(k)) for k in keys if old.get(k) != new.get(k)]
    if not lines:
        return []
    days = new.get("changeableForDays")
    title = (
        f"Vault Lock in compliance mode on {new.get('backupVaultName')}: irreversible {days} days after "
        "this deploy (no removal, no early deletion of a recovery point)"
        if days is not None
        else f"Vault Lock in governance mode on {new.get('backupVaultName')}"
    )
    return [Finding(Level.APPROVAL, "vault-lock", step.urn, title, tuple(lines))]


def _alerts(budget: Mapping[str, Any]) -> dict[tuple[str, str], Any]:
    return {
        (str(n.get("notificationType")), str(n.get("comparisonOperator"))): n.get("threshold")
        for n in budget.get("notifications") or []
        if isinstance(n, Mapping)
    }


def budget_loosened(step: Step, ctx: Context) -> list[Finding]:
    if step.type != BUDGET or step.old is None or step.new is None:
        return []
    old, new = inputs(step)
    lines = []
    before, after = _number(old.get("limitAmount")), _number(new.get("limitAmount"))
    if before is not None and after is not None and after > before:
        lines.append(redact.change("limitAmount", old.get("limitAmount"), new.get("limitAmount")))
    alerts_before, alerts_after = _alerts(old), _alerts(new)
    for kind in sorted(set(alerts_before) - set(alerts_after)):
        lines.append(f"{kind[0].lower()} alert removed (was at {alerts_before[kind]}%)")
    for kind in sorted(set(alerts_before) & set(alerts_after)):
        b, a = _number(alerts_before[kind]), _number(alerts_after[kind])
        if b is not None and a is not None and a > b:
            lines.append(f"{kind[0].lower()} alert: {alerts_before[kind]}% -> {alerts_after[kind]}%")
    if not lines:
        return []
    return [Finding(Level.LOOK, "budget-loosened", step.urn, "cost budget alerts later", tuple(lines))]


RULES = (rotation_loosened, backups_reduced, vault_lock, budget_loosened)

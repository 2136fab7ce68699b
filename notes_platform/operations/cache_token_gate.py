"""What the stack file cannot say about a Redis AUTH token rotation: when the current generation
was set (its git history) and whether the rotate step is deployed (the running service).

SET makes ElastiCache drop every token but the current one. If a task still holds the previous
token then, it loses the cache and its rate limits until replaced; if the ROTATE never reached
ElastiCache, every task does. So ``set`` waits for evidence that the rotate step is live:

- the API service runs one deployment, rollout COMPLETED, as many tasks as desired (the same
  checks as ``notes-platform verify``: a circuit-breaker rollback is steady too, on the old task
  definition, which is why the task definition itself is read next);
- that deployment's task definition gives the API the current generation's secret
  (``notes/<env>/redis-auth-token-g<N>``, infra/cache.py) as NOTES_REDIS_AUTH_TOKEN
  (stacks/compute.py api_secrets);
- the replication group is ``available``, not ``modifying`` a token change.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from notes_platform.operations.cache_token import GENERATION

DEFAULT_ROTATION_DAYS = 90
TOKEN_VARIABLE = "NOTES_REDIS_AUTH_TOKEN"  # noqa: S105 (the variable's name, not a token)
# A secret ARN ends in its name and a dash with six random characters (Secrets Manager User Guide,
# "Find secrets"; the mocks answer the same, notes_platform/graph/mocks.py).
_GENERATION_ARN = re.compile(r"/redis-auth-token-g(\d+)(?:-[A-Za-z0-9]{6})?$")


class GateError(Exception):
    """The evidence could not be gathered (no git history); the message says what to do."""


def generation_set_at(path: Path) -> datetime:
    """When the commit that last changed the generation line was made (committer date).

    Needs the file's full history: in a shallow clone ``git log`` sees only the newest commit
    and every generation would look new, so a rotation would never come due.
    """
    directory = path.resolve().parent

    def git(*argv: str) -> str:
        try:
            done = subprocess.run(  # noqa: S603 (argv built here, no shell)
                ["git", "-C", str(directory), *argv],  # noqa: S607 (git from PATH, as a developer runs it)
                check=True,
                capture_output=True,
                text=True,
                timeout=30,
            )
        except (OSError, subprocess.CalledProcessError) as exc:
            detail = getattr(exc, "stderr", "") or str(exc)
            raise GateError(f"{path}: git cannot say when the generation was set: {detail.strip()}") from exc
        return done.stdout.strip()

    if git("rev-parse", "--is-shallow-repository") == "true":
        raise GateError(
            f"{path}: a shallow clone hides when the generation was set: fetch the whole history "
            "(actions/checkout with fetch-depth: 0)"
        )
    # -G: commits whose diff adds or removes a line matching the pattern (git log --help).
    when = git("log", "-1", "--format=%cI", f"-G{GENERATION}:", "--", path.name)
    if not when:
        raise GateError(
            f"{path}: no commit sets {GENERATION} (is the file committed?); "
            "pass --step rotate to rotate regardless"
        )
    return datetime.fromisoformat(when)


@dataclass(frozen=True)
class Due:
    due: bool
    set_at: datetime
    due_at: datetime

    def describe(self) -> str:
        day = "%Y-%m-%d"
        return (
            f"the generation was set on {self.set_at.strftime(day)} (git); "
            f"a rotation is due from {self.due_at.strftime(day)}"
        )


def rotation_due(set_at: datetime, now: datetime, every_days: int) -> Due:
    due_at = set_at + timedelta(days=every_days)
    return Due(now >= due_at, set_at, due_at)


@dataclass(frozen=True)
class Evidence:
    deployed: bool
    saw: tuple[str, ...]


def secret_generation(arn: str) -> int | None:
    match = _GENERATION_ARN.search(arn)
    return int(match[1]) if match else None


def _api_task_generation(ecs: Any, task_definition: str) -> tuple[int | None, str]:
    answer = ecs.describe_task_definition(taskDefinition=task_definition)["taskDefinition"]
    for container in answer.get("containerDefinitions", []):
        for secret in container.get("secrets", []):
            if secret.get("name") == TOKEN_VARIABLE:
                value = str(secret.get("valueFrom", ""))
                return secret_generation(value), value
    return None, f"no {TOKEN_VARIABLE} secret in {task_definition}"


def deploy_evidence(ecs: Any, elasticache: Any, environment: str, generation: int) -> Evidence:
    """Whether the rotate step to ``generation`` is live; what was seen, either way."""
    from notes_platform.release.verify import capacity_check, rollout_check  # noqa: PLC0415

    cluster, name = f"notes-{environment}", f"notes-{environment}-api"
    services = ecs.describe_services(cluster=cluster, services=[name]).get("services", [])
    if not services:
        return Evidence(False, (f"no service {name} in cluster {cluster}",))
    service = services[0]
    deployments = service.get("deployments", [])
    primary = next((d for d in deployments if d.get("status") == "PRIMARY"), None)
    if primary is None:
        return Evidence(False, (f"{name}: no PRIMARY deployment",))
    checks = [rollout_check(primary, deployments), capacity_check(service)]
    saw = [f"{name}: {check.saw}" for check in checks]
    running, value = _api_task_generation(ecs, str(primary.get("taskDefinition")))
    token_ok = running == generation
    saw.append(
        f"{name}: the tasks read generation {running} ({value})"
        + ("" if token_ok else f", not {generation}: the rotate step is not what runs")
    )
    group_id = f"notes-{environment}-redis"  # infra/cache.py RedisCache: replication_group_id
    groups = elasticache.describe_replication_groups(ReplicationGroupId=group_id)["ReplicationGroups"]
    status = groups[0].get("Status") if groups else "missing"
    saw.append(f"{group_id}: {status}")
    deployed = all(check.passed for check in checks) and token_ok and status == "available"
    return Evidence(deployed, tuple(saw))

"""What the stack derives from its config for the components: tags, alarm thresholds and
subscriptions in the components' units, and the tag of a built image."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from infra.image import build_tag
from infra.observability.thresholds import AlarmThresholds
from infra.observability.topic import AlarmSubscription
from stacks.config import PROJECT, ROOT, StackConfig


def default_tags(config: StackConfig) -> dict[str, str]:
    return {
        "Project": PROJECT,
        "Environment": config.general.environment,
        "Owner": config.general.owner,
        "CostCenter": config.general.cost_center,
        "ManagedBy": "pulumi",
    }


def alarm_thresholds(config: StackConfig) -> AlarmThresholds:
    """The stack file's thresholds (whole units there) in the alarm components' units."""
    alarms = config.alarms
    return AlarmThresholds(
        alb_5xx_percent=float(alarms.alb_5xx_percent),
        alb_5xx_min_requests=alarms.alb_5xx_min_requests,
        target_p99_seconds=alarms.target_p99_ms / 1000,
        service_cpu_percent=float(alarms.service_cpu_percent),
        service_memory_percent=float(alarms.service_memory_percent),
        docdb_cpu_percent=float(alarms.docdb_cpu_percent),
        docdb_freeable_memory_bytes=alarms.docdb_freeable_memory_mib * 1024 * 1024,
        docdb_connections=alarms.docdb_connections,
        docdb_replica_lag_ms=float(alarms.docdb_replica_lag_ms),
        redis_cpu_percent=float(alarms.redis_cpu_percent),
        redis_engine_cpu_percent=float(alarms.redis_engine_cpu_percent),
        redis_memory_percent=float(alarms.redis_memory_percent),
        redis_evictions=alarms.redis_evictions,
        redis_replication_lag_seconds=float(alarms.redis_replication_lag_seconds),
    )


def alarm_subscriptions(config: StackConfig) -> tuple[AlarmSubscription, ...]:
    return (
        *(AlarmSubscription("email", address) for address in config.alarms.emails),
        *(AlarmSubscription("https", url) for url in config.alarms.https_endpoints),
    )


def image_tag(context: Path) -> str:
    """The tag of a build of ``context``: the git revision plus the context's digest
    (``infra.image.build_tag``). NOTES_PLATFORM_IMAGE_TAG overrides it whole: the committed
    plan snapshots pin it, so that they change with the infrastructure, not with each commit or
    each edit of the API."""
    if override := os.environ.get("NOTES_PLATFORM_IMAGE_TAG"):
        return override
    return build_tag(git_revision(), context)


def git_revision() -> str:
    """The checkout's revision; "unknown" outside a git checkout (the content digest in the tag
    and the deployed digest still tell builds apart)."""
    try:
        # "-dirty" keeps two builds of one commit with local changes from claiming one immutable tag.
        command = ["git", "describe", "--always", "--abbrev=12", "--dirty", "--exclude=*"]
        result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True)  # noqa: S603
        return result.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"

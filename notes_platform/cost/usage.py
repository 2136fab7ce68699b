"""What a plan cannot know about a month: traffic, data volumes, log bytes. One file per stack
(``usage/<stack>.yaml``); every key has a default here, so a file names only what it changes.
Printed with every estimate as its assumptions."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

USAGE_DIR = Path(__file__).parent / "usage"


class UsageError(ValueError):
    """A usage file that cannot be read: the message names the file and the key."""


class Usage(BaseModel):
    """Monthly usage of one stack. Sizes in KB and GB are decimal (1 GB = 10^6 KB), as AWS bills."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    requests_per_month: int = Field(
        1_000_000, ge=0, description="viewer requests through CloudFront, WAF and the ALB (all reach the API)"
    )
    response_kb: Decimal = Field(Decimal(4), ge=0, description="average response size out to viewers, KB")
    request_kb: Decimal = Field(Decimal(1), ge=0, description="average request size in, KB (ALB bytes)")
    requests_per_origin_connection: int = Field(
        50, ge=1, description="requests CloudFront sends on one kept-alive origin connection (ALB new conns)"
    )
    average_tasks: Decimal | None = Field(
        None, ge=0, description="average running API tasks; unset: the service's desiredCount"
    )
    average_worker_tasks: Decimal | None = Field(
        None,
        ge=0,
        description="average running export worker tasks; unset: the worker service's desiredCount",
    )
    exports_per_month: int = Field(1_000, ge=0, description="note exports requested (one job each)")
    export_mb: Decimal = Field(
        Decimal("0.5"), ge=0, description="average export object, MB (gzip JSON; ~1,000 notes)"
    )
    export_downloads: Decimal = Field(Decimal(1), ge=0, description="downloads of each finished export")
    sqs_requests_per_export: int = Field(
        3, ge=0, description="SQS requests a job makes: send, receive, delete (retries add more)"
    )
    s3_put_requests_per_export: int = Field(
        1, ge=0, description="S3 PUT-class requests per export: one PutObject below the 8 MiB part size"
    )
    worker_log_gb_per_month: Decimal = Field(
        Decimal("0.05"), ge=0, description="GB the export worker logs ingest"
    )
    nat_gb_per_month: Decimal = Field(
        Decimal(10), ge=0, description="GB through the NAT gateways, all of them"
    )
    endpoint_gb_per_month: Decimal = Field(
        Decimal(10), ge=0, description="GB through the interface endpoints (image pulls, logs, secrets)"
    )
    docdb_storage_gb: Decimal = Field(Decimal(10), ge=0, description="DocumentDB cluster volume, GB")
    docdb_io_millions_per_month: Decimal = Field(Decimal(10), ge=0, description="DocumentDB I/Os, millions")
    ecr_storage_gb: Decimal = Field(Decimal(2), ge=0, description="images kept in the repository, GB")
    api_log_bytes_per_request: int = Field(400, ge=0, description="API JSON log bytes per request")
    waf_log_bytes_per_request: int = Field(1500, ge=0, description="WAF log record bytes per request")
    cloudfront_log_bytes_per_request: int = Field(600, ge=0, description="CloudFront access log bytes")
    flow_log_gb_per_month: Decimal = Field(Decimal(2), ge=0, description="VPC flow log GB ingested")
    docdb_log_gb_per_month: Decimal = Field(
        Decimal("0.5"), ge=0, description="GB ingested per DocumentDB log group (audit, profiler)"
    )
    other_log_gb_per_month: Decimal = Field(
        Decimal("0.1"), ge=0, description="GB ingested by any other log group (Redis slow log, ...)"
    )
    free_tier: bool = Field(
        False,
        description="deduct the per-account free tiers (3 dashboards, 10 alarm metrics, CloudFront 1 TB and "
        "10M requests); off by default since both stacks share one account's",
    )

    def assumptions(self) -> list[str]:
        """Every value as a line an estimate prints, with what it means."""
        lines = []
        for name, field in type(self).model_fields.items():
            value = getattr(self, name)
            shown = (
                ("the worker service's desiredCount" if "worker" in name else "the service's desiredCount")
                if value is None
                else f"{value:,}"
                if isinstance(value, int) and not isinstance(value, bool)
                else str(value)
            )
            lines.append(f"{name} = {shown}: {field.description}")
        return lines


def usage_path(stack: str) -> Path:
    return USAGE_DIR / f"{stack}.yaml"


def load_usage(stack: str, path: Path | None = None) -> Usage:
    """The usage of ``stack`` (``usage/<stack>.yaml``, or ``path``); the model's defaults when the
    stack has no file. Raises UsageError naming the file and the key."""
    import yaml  # noqa: PLC0415 (only the command that reads a file pays for it)

    source = path or usage_path(stack)
    if not source.exists():
        if path is not None:
            raise UsageError(f"{source}: no such usage file")
        return Usage()
    try:
        data: Any = yaml.safe_load(source.read_text()) or {}
    except yaml.YAMLError as exc:
        raise UsageError(f"{source}: not YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise UsageError(f"{source}: expected a mapping of usage keys, got {type(data).__name__}")
    try:
        return Usage.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or '(file)'}: {error['msg']}" for error in exc.errors()
        )
        raise UsageError(f"{source}: {problems}") from exc

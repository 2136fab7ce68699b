"""The retention periods CloudWatch Logs accepts (PutRetentionPolicy's retentionInDays): any
other value fails at `pulumi up`, so the schema and the components refuse it first."""

from __future__ import annotations

LOG_RETENTION_DAYS = (
    1,
    3,
    5,
    7,
    14,
    30,
    60,
    90,
    120,
    150,
    180,
    365,
    400,
    545,
    731,
    1096,
    1827,
    2192,
    2557,
    2922,
    3288,
    3653,
)

"""Prometheus metrics. With several workers, prometheus_client's multiprocess mode is used
(PROMETHEUS_MULTIPROC_DIR, set by the server before this module is imported)."""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.metrics import MetricWrapperBase

REQUEST_DURATION = Histogram(
    "http_request_duration_seconds",
    "HTTP request duration by route template, method and status.",
    ["route", "method", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
CACHE_REQUESTS = Counter(
    "notes_cache_requests_total",
    "Cache lookups by cache and result (hit, miss, error, bypass).",
    ["cache", "result"],
)
DEPENDENCY_ERRORS = Counter(
    "notes_dependency_errors_total",
    "Failed calls to a dependency (mongodb, redis, aws: sqs and s3) by operation.",
    ["dependency", "operation"],
)
RATE_LIMITED = Counter("notes_rate_limited_total", "Requests refused with 429, by limit scope.", ["scope"])
RATE_LIMIT_FAIL_OPEN = Counter(
    "notes_rate_limit_fail_open_total", "Requests let through because the limiter's storage failed."
)

SECRET_REFRESHES = Counter(
    "notes_secret_refreshes_total",
    "Reads of a secret by ARN while serving, by secret (jwt_signing_key, mongodb_uri) and result "
    "(unchanged, changed, failed: the previous value stays in use).",
    ["secret", "result"],
)


_CHILDREN: dict[tuple[int, tuple[str, ...]], Any] = {}


def labelled(metric: MetricWrapperBase, *values: str) -> Any:
    """``metric.labels(*values)``, looked up once per label tuple: ``labels()`` takes a lock
    and builds a key on every call, and some of these run on every request."""
    key = (id(metric), values)
    child = _CHILDREN.get(key)
    if child is None:
        child = _CHILDREN[key] = metric.labels(*values)
    return child


def render() -> tuple[bytes, str]:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(), CONTENT_TYPE_LATEST

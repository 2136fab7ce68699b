"""JSON logs, one object per line, each carrying the current request id."""

from __future__ import annotations

import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)

# uvicorn passes an ANSI-coloured copy of each message as extra "color_message"; in JSON it is
# noise with escape codes, so it is treated like the LogRecord's own internals.
_SKIPPED_ATTRS = (*RESERVED_ATTRS, "color_message")


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True


class _Formatter(JsonFormatter):
    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        # logging's default ("2024-01-02 03:04:05,678") has no zone, so log stores guess it.
        # ISO-8601 in UTC with an explicit offset sorts and parses everywhere.
        return datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds")


def configure_logging(level: str = "INFO") -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        _Formatter(
            "{asctime}{levelname}{name}{message}{request_id}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            reserved_attrs=_SKIPPED_ATTRS,
            timestamp=False,
        )
    )
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # Our middleware writes the access log; uvicorn's own would be a second, unstructured copy.
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    logging.getLogger("uvicorn.access").disabled = True

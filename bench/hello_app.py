"""The ceiling: a bare FastAPI hello endpoint served exactly like the API
(same uvicorn options, same FastAPI telemetry switches).

``python -m bench.hello_app`` reads the same NOTES_* variables as ``python -m notes_api`` and
takes its uvicorn options from ``notes_api.server.uvicorn_options``, so worker count, event
loop (uvloop), HTTP parser (httptools), access log and keep-alive cannot drift from the API's.
Whatever the API measures below this endpoint is the cost of the API's own code.
"""

from __future__ import annotations

import sys

import uvicorn
from fastapi import FastAPI

from notes_api.core.config import Settings
from notes_api.main import telemetry_options
from notes_api.server import uvicorn_options

# The API's framework options too (FastAPI's native telemetry), read from the same NOTES_*.
app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None, telemetry=telemetry_options(Settings()))


@app.get("/hello", response_model=None)
async def hello() -> dict[str, str]:
    return {"message": "hello"}


def main() -> int:
    # Settings() rather than load_settings(): the ceiling holds no secrets to check.
    options = uvicorn_options(Settings())
    # An import string, because uvicorn can only spawn workers from one.
    uvicorn.run("bench.hello_app:app", **options)
    return 0


if __name__ == "__main__":
    sys.exit(main())

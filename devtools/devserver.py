"""`make dev`: the API on 127.0.0.1:$PORT with a local Redis and SecantusDB when none is
configured, and a development signing key. Nothing here is used in production."""

from __future__ import annotations

import os
import sys

from devtools.localservices import local_dependencies


def main() -> int:
    with local_dependencies() as started:
        os.environ.update(started)
        os.environ.setdefault("NOTES_ENV", "development")
        os.environ.setdefault("NOTES_DOCS_ENABLED", "true")
        os.environ.setdefault("NOTES_PORT", os.environ.get("PORT", "8000"))
        for name, value in sorted(started.items()):
            print(f"devserver: started {name}={value}", file=sys.stderr)
        # Imported after the environment is set: settings are read at import of the server.
        from notes_api.server import main as serve  # noqa: PLC0415

        return serve()


if __name__ == "__main__":
    sys.exit(main())

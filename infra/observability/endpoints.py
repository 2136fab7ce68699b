"""Who may subscribe to an alarm topic, judged in one place: the stack schema (early, naming the
config key) and ``AlarmTopic`` (naming the args field) ask the same question. Pure Python, so
the schema can import it without loading pulumi."""

from __future__ import annotations

import re

PROTOCOLS = ("email", "https")
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")
HTTPS_URL = re.compile(r"^https://[^/\s]+\.[^/\s]+(/\S*)?$")


def endpoint_problem(protocol: str, endpoint: str) -> str | None:
    """Why ``endpoint`` cannot subscribe with ``protocol`` (``"protocol=...: ..."`` or
    ``"endpoint=...: ..."``), or None when it can."""
    if protocol not in PROTOCOLS:
        return f"protocol={protocol!r}: use one of {', '.join(PROTOCOLS)}"
    if protocol == "email" and not EMAIL.match(endpoint):
        return f"endpoint={endpoint!r} is not an e-mail address"
    if protocol == "https" and not HTTPS_URL.match(endpoint):
        return (
            f"endpoint={endpoint!r}: an https subscription needs an https:// URL "
            "(alarm notifications never travel in plain HTTP)"
        )
    return None

"""Secret values never reach the output. A value is shown as ``[secret]`` when the provider marked
it so, when either side of a change at that path is marked (a state may carry in plain text what
the program now marks secret), or when its name says it holds one. The review prints inputs
only, never outputs, where providers leave generated values in plain text."""

from __future__ import annotations

import json
import re
from typing import Any

from notes_platform.review.preview import RECORDED_UNKNOWN, SECRET, UNKNOWN

# Property names (any segment of a path, compared lower-case) whose values are secrets in the
# AWS, random and tls providers: masterPassword, authToken, secretString, secretBinary,
# privateKeyPem, the random provider's result/bcryptHash, an origin header's value ...
_SECRET_NAME = re.compile(
    r"password|authtoken|secretstring|secretbinary|privatekey|secretkey|secretaccesskey|"
    r"accesstoken|apikey|^token$|^result$|bcrypthash|sessiontoken|credentials?$|certificatebody|"
    r"passphrase|signingkey"
)
# Environment variable names in container definitions that look like they carry a secret.
_SECRET_ENV = re.compile(r"PASSWORD|SECRET|TOKEN|PRIVATE|API_?KEY|SIGNING_?KEY|CREDENTIAL", re.I)
# Paths whose values are secrets by what they are, not by name: the X-Origin-Verify value the ALB
# rule compares and CloudFront sends (infra/edge/origin_secret.py).
_SECRET_PATHS = (re.compile(r"httpHeader\.values"), re.compile(r"customHeaders\[\d+\]\.value$"))
MAX_SHOWN = 120  # longer values keep their head and tail, where image digests and ARNs differ


def secret_name(name: str) -> bool:
    return bool(_SECRET_NAME.search(name.lower()))


def secret_env(name: str) -> bool:
    return bool(_SECRET_ENV.search(name))


def secret_path(path: str) -> bool:
    segments = re.split(r"[.\[\]]+", path)
    return any(secret_name(s) for s in segments if s and not s.isdigit()) or any(
        p.search(path) for p in _SECRET_PATHS
    )


def contains_secret(value: Any) -> bool:
    if value == SECRET:
        return True
    if isinstance(value, dict):
        return any(contains_secret(v) for v in value.values())
    if isinstance(value, list):
        return any(contains_secret(v) for v in value)
    return False


def show(path: str, value: Any, *, other: Any = None) -> str:
    """``value`` at ``path`` as a reviewer may read it. ``other``: the value on the other side of
    the change, so a plain-text old value of a now-secret input stays hidden."""
    if secret_path(path) or contains_secret(value) or contains_secret(other):
        return SECRET
    if value in (UNKNOWN, RECORDED_UNKNOWN):
        return "(known after apply)"
    if value is None:
        return "(none)"
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True, separators=(",", ":"))
    text = text.replace("\n", " ")
    return text if len(text) <= MAX_SHOWN else text[:70] + "…" + text[-(MAX_SHOWN - 71) :]


def change(path: str, old: Any, new: Any) -> str:
    """``path: old -> new`` with both sides redacted together."""
    return f"{path}: {show(path, old, other=new)} -> {show(path, new, other=old)}"

"""The JWT signing key set's first value, made from the generated secret's characters.

The API reads ``notes/<env>/jwt-signing-key`` as ``{"keys": [{"kid", "key", "not_before"}]}``
(app/notes_rotation/jwt.py, which rotates it): ``key`` is the HMAC key as unpadded base64url,
``kid`` the first 8 hex digits of the key bytes' SHA-256, ``not_before`` the epoch second from
which the API may sign with it.

The stack's value is one key whose bytes are the generated value's UTF-8 bytes: exactly the key
and kid the API and the rotation derive from a legacy plain-string secret, so a stack that held
the plain string before moves to the key set without invalidating one token. 64 characters of
letters and digits are 64 bytes carrying over 380 bits, above HS256's 256 (RFC 7518 section 3.2).
"""

from __future__ import annotations

import base64
import hashlib
import json

import pulumi

from infra.secrets import GeneratedSecret, GeneratedSecretArgs

# The rotation's minimum (notes_rotation.jwt.MIN_KEY_BYTES): it refuses a set with a shorter key.
MIN_KEY_BYTES = 32


def initial_key_set(generated: str) -> str:
    """The secret's JSON for one key made of ``generated``'s UTF-8 bytes, active since always."""
    raw = generated.encode()
    if len(raw) < MIN_KEY_BYTES:
        raise ValueError(f"a JWT signing key needs at least {MIN_KEY_BYTES} bytes, got {len(raw)}")
    key = base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")
    kid = hashlib.sha256(raw).hexdigest()[:8]
    return json.dumps({"keys": [{"kid": kid, "key": key, "not_before": 0}]})


def jwt_signing_key(
    name: str,
    *,
    environment: str,
    kms_key_arn: pulumi.Input[str],
    recovery_window_days: int,
    opts: pulumi.ResourceOptions | None = None,
) -> GeneratedSecret:
    """``notes/<env>/jwt-signing-key``: the key set the API and the rotation read, its first key
    the 64 generated characters (existing tokens stay valid, see above); the jwt rotation function
    adds every later key (stacks/rotations.py), so the program's version is the first only."""
    return GeneratedSecret(
        name,
        GeneratedSecretArgs(
            environment=environment,
            purpose="jwt-signing-key",
            description="HS256 signing key set of the notes API's access tokens (kid, key, not_before)",
            kms_key_arn=kms_key_arn,
            recovery_window_days=recovery_window_days,
            length=64,
            stored_as=initial_key_set,
            rotated=True,
        ),
        opts,
    )

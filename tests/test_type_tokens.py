"""Every type token the tests look resources up by is one its SDK really registers."""

from __future__ import annotations

import importlib
import inspect
import keyword

import pytest

from tests import type_tokens

# Token prefix -> the Python package of that provider's SDK.
SDKS = {"aws": "pulumi_aws", "random": "pulumi_random", "docker-build": "pulumi_docker_build"}
TOKENS = {name: value for name, value in vars(type_tokens).items() if name.isupper()}


def registered_by(type_token: str) -> str | None:
    """The SDK class whose constructor registers ``type_token``, as ``module.Class``, or None.

    ``aws:kms/key:Key`` -> ``pulumi_aws.kms.Key``; ``random:index/randomPassword:RandomPassword``
    -> ``pulumi_random.RandomPassword`` (``index`` is the package itself)."""
    provider, _, rest = type_token.partition(":")
    module_path, _, kind = rest.partition(":")
    # A module named after a Python keyword gets a trailing underscore (``lambda`` -> ``lambda_``).
    module_name = module_path.split("/")[0] + ("_" if keyword.iskeyword(module_path.split("/")[0]) else "")
    package = SDKS.get(provider)
    if package is None:
        return None
    module = importlib.import_module(package if module_name == "index" else f"{package}.{module_name}")
    cls = getattr(module, kind, None)
    if cls is None:
        return None
    # The generated constructor passes its own token to the engine, literally.
    return f"{module.__name__}.{kind}" if f"'{type_token}'" in inspect.getsource(cls) else None


@pytest.mark.parametrize(("name", "token"), sorted(TOKENS.items()))
def test_token_is_registered_by_its_sdk(name: str, token: str) -> None:
    assert registered_by(token) is not None, f"{name} = {token!r} names no SDK resource"


def test_each_token_is_defined_once() -> None:
    duplicates = sorted({v for v in TOKENS.values() if list(TOKENS.values()).count(v) > 1})
    assert duplicates == []


def test_a_misspelled_or_foreign_token_is_refused() -> None:
    assert registered_by("aws:kms/key:Key") == "pulumi_aws.kms.Key"
    assert registered_by("aws:kms/key:Keys") is None
    assert registered_by("aws:kms/alias:Key") is None  # a real class, but not this token's
    assert registered_by("gcp:kms/key:Key") is None

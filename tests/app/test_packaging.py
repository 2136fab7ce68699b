"""app/requirements.txt, the image's lock, against the `api` extra of pyproject.toml."""

from __future__ import annotations

import importlib.metadata
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
LOCK = ROOT / "app" / "requirements.txt"

# Declared for the infrastructure or the tests, but also pulled in by the API's own
# dependencies: uvicorn[standard] reads YAML logging configurations, limits needs packaging.
SHARED_WITH_INFRA = {"pyyaml", "packaging"}


def extras() -> dict[str, list[Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        name: [Requirement(line) for line in lines]
        for name, lines in project["optional-dependencies"].items()
    }


def lock() -> dict[str, Requirement]:
    pins: dict[str, Requirement] = {}
    for number, raw in enumerate(LOCK.read_text().splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        assert name not in pins, f"app/requirements.txt:{number}: {name} is pinned twice"
        pins[name] = requirement
    return pins


def pinned_version(requirement: Requirement) -> Version:
    (spec,) = requirement.specifier
    return Version(spec.version)


def test_every_lock_line_is_an_exact_pin() -> None:
    # GIVEN the image's lock
    pins = lock()
    # WHEN each line's version specifier is read
    loose = [
        str(req)
        for req in pins.values()
        if len(req.specifier) != 1 or next(iter(req.specifier)).operator != "=="
    ]
    # THEN every one is a single ==, so two builds install the same versions
    assert pins, "app/requirements.txt pins nothing"
    assert loose == [], f"app/requirements.txt has non-exact pins: {loose}"


@pytest.mark.parametrize("requirement", extras()["api"], ids=lambda req: req.name)
def test_api_requirement_is_pinned_within_its_pyproject_range(requirement: Requirement) -> None:
    # GIVEN a requirement of the api extra and the lock
    pins = lock()
    name = canonicalize_name(requirement.name)
    # WHEN the lock's pin for it is looked up
    pin = pins.get(name)
    # THEN it is there, and the pinned version satisfies pyproject.toml's range
    assert pin is not None, f"{requirement} (pyproject.toml api extra) is missing from app/requirements.txt"
    version = pinned_version(pin)
    assert requirement.specifier.contains(version, prereleases=True), (
        f"app/requirements.txt pins {name}=={version}, outside pyproject.toml's {requirement}"
    )


@pytest.mark.parametrize("requirement", [req for req in extras()["api"] if req.extras], ids=str)
def test_extras_of_api_requirements_are_pinned(requirement: Requirement) -> None:
    # GIVEN an api requirement with extras, e.g. uvicorn[standard], as installed in this venv
    try:
        declared = importlib.metadata.requires(requirement.name) or []
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{requirement.name} is not installed here; its extras cannot be read")
    # WHEN the packages those extras add on Linux are listed
    needed = {
        canonicalize_name(dep.name)
        for dep in map(Requirement, declared)
        for extra in requirement.extras
        if dep.marker is not None
        and "extra" in str(dep.marker)
        and dep.marker.evaluate({"extra": extra, "sys_platform": "linux", "platform_system": "Linux"})
    }
    # THEN the lock pins every one of them
    missing = sorted(needed - lock().keys())
    assert needed, f"{requirement}: no package is declared for these extras"
    assert missing == [], f"{requirement} needs {missing}, absent from app/requirements.txt"


def test_no_infrastructure_or_test_package_is_in_the_image() -> None:
    # GIVEN the packages only the infrastructure program or the tests declare
    declared = extras()
    api = {canonicalize_name(req.name) for req in declared["api"]}
    elsewhere = {canonicalize_name(req.name) for extra in ("infra", "dev") for req in declared[extra]}
    forbidden = elsewhere - api - SHARED_WITH_INFRA
    # WHEN the lock is compared with them
    pins = set(lock())
    leaked = sorted({name for name in pins if name in forbidden or name.startswith("pulumi")})
    # THEN none is there (boto3 is fine: the API reads secrets by ARN with it)
    assert {"moto", "secantusdb", "pulumi", "pytest"} <= forbidden
    assert leaked == [], f"app/requirements.txt carries infrastructure or test packages: {leaked}"

"""The rotated-version check: in both stacks every rotated secret's own version follows neither
the value nor the labels a rotation moves and keeps a label of its own; each mistake of the kind,
planted into the real plan, is found naming the version and the secret."""

from __future__ import annotations

import copy
import dataclasses

import pytest

from notes_platform.checks import rotated_versions
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan

STACKS = ("staging", "prod")
VERSION = rotated_versions.SECRET_VERSION


def _version(resources: list[Recorded], name_part: str) -> Recorded:
    [found] = [r for r in resources if r.type == VERSION and r.name.endswith(name_part)]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_every_rotated_secret_keeps_a_version_that_cannot_undo_it(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN a committed stack's plan, whose JWT key set and app user secret rotate
    resources = plans[stack].resources
    rotations = [r for r in resources if r.type == rotated_versions.SECRET_ROTATION]
    assert len(rotations) >= 2, [r.urn for r in rotations]
    # WHEN the check runs  THEN it finds nothing
    assert rotated_versions.check(resources) == []


@pytest.mark.parametrize("version_name", ["jwt-signing-key-version", "docdb-app-version"])
@pytest.mark.parametrize(
    ("mistake", "expected"),
    [
        ("follows the value", "must ignore changes to secretString"),
        ("follows the labels", "must ignore changes to versionStages"),
        ("no label of its own", "must keep a staging label of its own"),
    ],
)
def test_each_planted_mistake_is_found(
    plans: dict[str, Plan], version_name: str, mistake: str, expected: str
) -> None:
    # GIVEN prod's plan with one rotated secret's version planted with one mistake
    resources = copy.deepcopy(plans["prod"].resources)
    version = _version(resources, version_name)
    if mistake == "follows the value":
        planted = dataclasses.replace(version, ignore_changes=["versionStages"])
    elif mistake == "follows the labels":
        planted = dataclasses.replace(version, ignore_changes=["secretString"])
    else:
        planted = dataclasses.replace(version, inputs={**version.inputs, "versionStages": ["AWSCURRENT"]})
    resources = [planted if r is version else r for r in resources]
    # WHEN the check runs
    findings = rotated_versions.check(resources)
    # THEN exactly that version is reported, naming its secret
    assert len(findings) == 1, findings
    assert findings[0].urn == version.urn
    assert expected in findings[0].message
    assert version_name.replace("-version", "-secret") in findings[0].message


def test_a_secret_without_rotation_is_not_held_to_it(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan without its rotation schedules
    resources = [r for r in plans["prod"].resources if r.type != rotated_versions.SECRET_ROTATION]
    # WHEN the check runs  THEN the generation secrets and the rest are not reported
    assert rotated_versions.check(resources) == []
    # AND a version without a label of its own is fine when nothing rotates its secret
    origin = _version(resources, "origin-secret-g1-version")
    assert "versionStages" not in origin.inputs or origin.inputs["versionStages"] is None


# --- the app user's rotation comes after what creates the user ---------------------------------


@pytest.fixture(scope="module")
def with_eks(plans: dict[str, Plan], eks_plan: Plan) -> dict[str, Plan]:
    return {**plans, "staging-eks": eks_plan}


def _rotation(resources: list[Recorded], name: str) -> Recorded:
    [found] = [r for r in resources if r.type == rotated_versions.SECRET_ROTATION and r.name == name]
    return found


@pytest.mark.parametrize(
    ("stack", "provisioner"),
    [
        ("staging", "aws:ecs/service:Service::staging-api-service"),
        ("prod", "aws:ecs/service:Service::prod-api-service"),
    ],
)
def test_the_app_user_rotation_waits_for_the_service_that_creates_the_user(
    plans: dict[str, Plan], stack: str, provisioner: str
) -> None:
    # GIVEN a committed ECS stack's plan
    resources = plans[stack].resources
    rotation = _rotation(resources, f"{stack}-rotation-docdb-app-rotation")
    # THEN the API service, whose dbusers init container reads the app secret, is what it waits for
    graph = rotated_versions.Graph(resources)
    [service] = rotated_versions._provisioners(graph, rotation.inputs["secretId"])
    assert service.urn.endswith(provisioner)
    assert service.urn in graph.closure(rotation.urn)
    # AND the JWT rotation has no such provisioner
    jwt = _rotation(resources, f"{stack}-rotation-jwt-rotation")
    assert rotated_versions._provisioners(graph, jwt.inputs["secretId"]) == []


@pytest.mark.parametrize(
    ("stack", "provisioner"),
    [("prod", "prod-api-service"), ("staging-eks", "staging-eks-api-release")],
)
def test_a_rotation_before_its_users_exist_is_found(
    with_eks: dict[str, Plan], stack: str, provisioner: str
) -> None:
    # GIVEN a stack's plan whose app user rotation no longer waits for what creates the user
    resources = copy.deepcopy(with_eks[stack].resources)
    rotation = _rotation(resources, f"{stack}-rotation-docdb-app-rotation")
    kept = [d for d in rotation.dependencies if not d.endswith(provisioner)]
    assert len(kept) == len(rotation.dependencies) - 1, rotation.dependencies
    resources = [dataclasses.replace(rotation, dependencies=kept) if r is rotation else r for r in resources]
    # WHEN the check runs  THEN it names the rotation and the provisioner it must wait for
    findings = rotated_versions.check(resources)
    assert len(findings) == 1, findings
    assert findings[0].urn == rotation.urn
    assert provisioner in findings[0].message and "must wait for it" in findings[0].message

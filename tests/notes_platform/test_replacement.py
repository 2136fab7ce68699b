"""Fixed physical names that would collide with their own replacement."""

from __future__ import annotations

import dataclasses

import pytest

from notes_platform.checks.force_new import FORCE_NEW
from notes_platform.checks.replacement import NAMED_FROM, REASONS, check
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan
from tests.type_tokens import CACHE_PARAMETER_GROUP, DOCDB_PARAMETER_GROUP, ECS_SERVICE, TARGET_GROUP

# Inputs that hold a resource's own physical name, across the types we use.
NAME_INPUTS = ("name", "clusterIdentifier", "replicationGroupId", "identifier", "family")


def _resource(type_token: str, inputs: dict[str, object], **options: object) -> Recorded:
    return dataclasses.replace(
        Recorded(
            urn=f"urn:pulumi:prod::notes-platform::notes:infra:Test${type_token}::planted",
            type=type_token,
            name="planted",
            custom=True,
            parent=None,
            provider=None,
            dependencies=[],
            protect=False,
            inputs=inputs,
        ),
        **options,
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_no_fixed_name_in_either_stack_would_collide_with_its_replacement(
    plans: dict[str, Plan], stack: str
) -> None:
    findings = check(plans[stack].resources)
    assert findings == [], "\n".join(f"{f.urn}: {f.message}" for f in findings)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_type_with_a_fixed_name_is_in_the_table(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN every custom resource that sets one of its name inputs
    named = {r.type for r in plans[stack].resources if r.custom and any(k in r.inputs for k in NAME_INPUTS)}
    # THEN the table of replacing inputs covers its type (or the check could not judge it),
    # except the bucket-scoped S3 settings, named by their bucket's generated name
    uncovered = sorted(t for t in named - set(FORCE_NEW) if not t.startswith("aws:s3/"))
    assert uncovered == [], f"add to notes_platform/checks/force_new.py: {uncovered}"


def test_reasons_and_derived_names_speak_of_types_the_table_knows() -> None:
    assert set(REASONS) <= set(FORCE_NEW)
    assert set(NAMED_FROM) <= set(FORCE_NEW)
    for type_token, (inputs, _) in REASONS.items():
        assert inputs is None or inputs <= FORCE_NEW[type_token].force_new, type_token
    for type_token, inputs in NAMED_FROM.items():
        assert inputs <= FORCE_NEW[type_token].force_new, type_token


def test_a_fixed_name_with_a_replacing_input_is_found() -> None:
    # GIVEN a target group named by the program whose port (from config) forces a replacement,
    # and whose name does not carry it
    planted = _resource(TARGET_GROUP, {"name": "notes-prod-api", "port": 8000, "protocol": "HTTP"})
    # THEN the check names the resource, the name, and the input that would collide
    [finding] = check([planted])
    assert finding.urn == planted.urn
    assert "fixed name 'notes-prod-api'" in finding.message
    assert "and port force a replacement" in finding.message


@pytest.mark.parametrize(
    ("resource", "why"),
    [
        (_resource(TARGET_GROUP, {"port": 8000, "protocol": "HTTP"}), "a generated name"),
        (_resource(TARGET_GROUP, {"name": "notes-prod-api-8000", "port": 8000}), "the port is in the name"),
        (
            _resource(TARGET_GROUP, {"name": "notes-prod-api", "port": 8000}, delete_before_replace=True),
            "delete before replace",
        ),
        (_resource(TARGET_GROUP, {"name": "notes-prod-api"}), "no replacing input set"),
        (
            _resource(DOCDB_PARAMETER_GROUP, {"name": "notes-prod-docdb5-0", "family": "docdb5.0"}),
            "the family is in the name",
        ),
        (_resource(ECS_SERVICE, {"name": "notes-prod-api", "cluster": "arn:c"}), "a reason"),
    ],
)
def test_covered_resources_pass(resource: Recorded, why: str) -> None:
    assert check([resource]) == [], why


def test_a_name_that_does_not_carry_what_it_claims_is_found() -> None:
    # GIVEN a parameter group whose name does not carry its family after all
    planted = _resource(DOCDB_PARAMETER_GROUP, {"name": "notes-prod-docdb", "family": "docdb5.0"})
    # THEN the family counts as a replacing input again
    [finding] = check([planted])
    assert "family force a replacement" in finding.message


def test_an_sdk_default_does_not_count_but_a_description_of_ours_does() -> None:
    # GIVEN a Redis parameter group with the SDK's own default description, then one of ours
    default = {"name": "notes-prod-redis7", "family": "redis7", "description": "Managed by Pulumi"}
    ours = {**default, "description": "notes prod: Redis parameters"}
    # THEN only ours, which an edit could change under the same name, is a finding
    assert check([_resource(CACHE_PARAMETER_GROUP, default)]) == []
    [finding] = check([_resource(CACHE_PARAMETER_GROUP, ours)])
    assert "and description force a replacement" in finding.message

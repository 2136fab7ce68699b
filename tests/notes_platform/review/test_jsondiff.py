"""JSON-string inputs diffed as data, with the defaults AWS fills into container definitions."""

from __future__ import annotations

import json

import pytest

from notes_platform.review.jsondiff import diff_json_input, reduce_container_definitions

BASE = [
    {
        "name": "api",
        "image": "repo@sha256:aa",
        "cpu": 0,
        "essential": True,
        "portMappings": [{"containerPort": 8000, "hostPort": 8000, "protocol": "tcp"}],
        "environment": [{"name": "A", "value": "1"}, {"name": "B", "value": "2"}],
        "volumesFrom": [],
        "healthCheck": {"command": ["CMD", "true"], "interval": 30, "retries": 3, "timeout": 5},
    }
]
# What ECS returns for the same task (terraform-provider-aws container_definitions.go, reduce()).
AS_AWS_RETURNS = [
    {
        "name": "api",
        "image": "repo@sha256:aa",
        "portMappings": [{"containerPort": 8000}],
        "environment": [{"name": "B", "value": "2"}, {"name": "A", "value": "1"}],
        "healthCheck": {"command": ["CMD", "true"]},
    }
]


def _diff(old: object, new: object) -> list[str]:
    change = diff_json_input(
        "containerDefinitions", json.dumps(old), json.dumps(new), container_definitions=True
    )
    assert change is not None
    return change.lines()


def test_only_aws_filled_defaults_is_no_real_change() -> None:
    assert _diff(BASE, AS_AWS_RETURNS) == []
    assert reduce_container_definitions(BASE) == reduce_container_definitions(AS_AWS_RETURNS)


@pytest.mark.parametrize(
    ("edit", "line"),
    [
        (
            lambda c: c["environment"].append({"name": "C", "value": "3"}),
            '+ api.environment.C: {"value":"3"}',
        ),
        (
            lambda c: c["environment"].remove({"name": "A", "value": "1"}),
            '- api.environment.A: {"value":"1"}',
        ),
        (lambda c: c.update(image="repo@sha256:bb"), "~ api.image: repo@sha256:aa -> repo@sha256:bb"),
        (lambda c: c["healthCheck"].update(retries=5), "~ api.healthCheck.retries: 3 -> 5"),
        (
            lambda c: c["environment"].append({"name": "DB_PASSWORD", "value": "hunter2"}),
            "+ api.environment.DB_PASSWORD: [secret] (added)",
        ),
    ],
)
def test_a_real_edit_reads_as_a_path_and_values(edit: object, line: str) -> None:
    changed = json.loads(json.dumps(AS_AWS_RETURNS))
    edit(changed[0])  # type: ignore[operator]
    assert _diff(BASE, changed) == [line]


def test_a_string_that_is_not_json_is_not_diffed_as_data() -> None:
    assert diff_json_input("policy", "not json", "{}") is None

"""The offline evaluator: the committed plans against their stacks' configuration, the
configuration files themselves, and the report the plan prints."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from notes_platform.checks.policy_pack import (
    CONFIG_DIR,
    PackConfig,
    PackConfigError,
    Violation,
    blocking,
    evaluate,
    load_graph,
    render,
)
from notes_platform.graph.mocks import Recorded
from policies.notes_policies import all_policies
from tests.policies import fixtures as f
from tests.policies.harness import named, snapshot, without_alarms

ALARM_COVERAGE = "critical-resources-alarmed"
# The prod plan's critical resources: before the program had alarms, each one was the single
# kind of mandatory violation prod's config (everything mandatory) reported.
CRITICAL_IN_PROD = {"prod-docdb-cluster", "prod-redis-group", "prod-alb-lb", "prod-api-service"}


def test_staging_has_no_mandatory_violation() -> None:
    # GIVEN the committed staging plan WHEN evaluated with config/staging.json
    violations = evaluate(snapshot("staging"), "staging")
    # THEN nothing blocks; missing alarms would be advisory there
    assert blocking(violations) == [], render(violations)
    assert {v.policy for v in violations} <= {ALARM_COVERAGE}


def test_prod_has_no_mandatory_violation_but_missing_alarms() -> None:
    # GIVEN the committed prod plan WHEN evaluated with config/prod.json (all mandatory)
    violations = evaluate(snapshot("prod"), "prod")
    # THEN nothing blocks but, while the plan has none, the missing alarms
    assert {v.policy for v in blocking(violations)} <= {ALARM_COVERAGE}, render(violations)


def test_prod_without_alarms_blocks_on_each_critical_resource() -> None:
    # GIVEN the committed prod plan without its alarms WHEN evaluated for prod
    violations = evaluate(without_alarms(snapshot("prod")), "prod")
    # THEN each critical resource blocks, and nothing else does
    assert {v.policy for v in violations} == {ALARM_COVERAGE}, render(violations)
    assert all(v.mandatory for v in violations)
    assert {v.urn.rsplit("::", 1)[1] for v in violations} >= CRITICAL_IN_PROD


def test_prod_with_its_edge_and_alarms_has_no_violation_at_all() -> None:
    violations = evaluate(f.prod_graph(), "prod")
    assert violations == [], render(violations)


def test_recorded_objects_and_their_json_give_the_same_answer() -> None:
    # GIVEN the prod plan as the plan's own Recorded objects, with a violation planted
    graph = snapshot("prod")
    named(graph, "prod-image-repository")["inputs"]["imageTagMutability"] = "MUTABLE"
    recorded = [
        Recorded(
            urn=r["urn"],
            type=r["type"],
            name=r["name"],
            custom=r["custom"],
            parent=r["parent"],
            provider=r["provider"],
            dependencies=r["dependencies"],
            protect=r["protect"],
            inputs=r["inputs"],
        )
        for r in graph
    ]
    # WHEN both shapes are evaluated THEN the reports are the same
    assert evaluate(recorded, "prod") == evaluate(graph, "prod")
    assert "ecr-immutable-tags" in {v.policy for v in evaluate(recorded, "prod")}


def test_a_value_unknown_in_preview_is_an_advisory_note_not_a_block() -> None:
    # GIVEN a task definition whose containers are only known after the deployment
    graph = snapshot("prod")
    task = named(graph, "prod-api-task")
    task["inputs"]["containerDefinitions"] = "[unknown]"
    # WHEN evaluated THEN the container policies note they could not run, and block nothing
    notes = [v for v in evaluate(graph, "prod") if v.urn == task["urn"]]
    assert notes and all(not v.mandatory and v.message.startswith("can't run during preview") for v in notes)


def test_resources_of_another_stack_are_refused() -> None:
    with pytest.raises(ValueError, match="another stack"):
        evaluate(snapshot("staging"), "prod")


def test_a_policy_can_be_disabled_or_made_advisory() -> None:
    # GIVEN a plan whose only violations are missing alarms
    graph = without_alarms(snapshot("prod"))
    # WHEN the policy is disabled THEN nothing is reported; WHEN advisory THEN nothing blocks
    config = PackConfig({"all": "mandatory", ALARM_COVERAGE: "disabled"})
    assert evaluate(graph, "prod", config) == []
    config = PackConfig({"all": "mandatory", ALARM_COVERAGE: {"enforcementLevel": "advisory"}})
    reported = evaluate(graph, "prod", config)
    assert reported and blocking(reported) == []


def test_remediate_is_reported_as_mandatory_like_the_engine_does() -> None:
    config = PackConfig({ALARM_COVERAGE: "remediate"})
    reported = evaluate(without_alarms(snapshot("staging")), "staging", config)
    assert reported and all(v.mandatory for v in reported)


def test_settings_fall_back_to_the_schema_defaults() -> None:
    policy = next(p for p in all_policies() if p.name == "docdb-backup-retention")
    assert PackConfig().settings(policy) == {"minimumDays": 7}
    assert PackConfig({"docdb-backup-retention": {"minimumDays": 30}}).settings(policy) == {"minimumDays": 30}


def test_a_policys_own_level_wins_over_all() -> None:
    policy = next(p for p in all_policies() if p.name == "critical-resources-alarmed")
    assert PackConfig().enforcement(policy).value == "advisory"
    assert PackConfig({"all": "mandatory"}).enforcement(policy).value == "mandatory"
    assert PackConfig({"all": "mandatory", policy.name: "advisory"}).enforcement(policy).value == "advisory"
    # Settings alone do not touch the level that "all" set.
    config = PackConfig({"all": "mandatory", policy.name: {"types": []}})
    assert config.enforcement(policy).value == "mandatory"


@pytest.mark.parametrize(
    ("entries", "error"),
    [
        ({"no-such-policy": "mandatory"}, "no-such-policy: the pack has no such policy"),
        ({"all": "strict"}, "all: 'strict' is not one of advisory, mandatory, remediate, disabled"),
        ({"docdb-backup-retention": {"minimumDay": 30}}, "docdb-backup-retention.minimumDay: not a setting"),
        ({"docdb-backup-retention": {"minimumDays": "30"}}, 'minimumDays: expected integer, got "30"'),
        ({"docdb-backup-retention": {"minimumDays": True}}, "minimumDays: expected integer, got true"),
        ({"kms-deletion-window": {"minimumDays": 3}}, "minimumDays: 3 is below the minimum 7"),
        ({"required-tags": {"requiredTags": ["Owner", 7]}}, "requiredTags: [1] expected string, got 7"),
        ({"ecr-scan-on-push": 1}, "ecr-scan-on-push: expected an enforcement level or an object"),
    ],
)
def test_a_bad_configuration_is_refused_with_its_key(entries: dict[str, object], error: str) -> None:
    with pytest.raises(PackConfigError) as raised:
        evaluate(snapshot("staging"), "staging", PackConfig(entries, "bad.json"))
    assert "bad.json" in str(raised.value) and error in str(raised.value)


@pytest.mark.parametrize("path", sorted(CONFIG_DIR.glob("*.json")), ids=lambda p: p.name)
def test_the_committed_configurations_are_valid(path: Path) -> None:
    PackConfig.load(path).check(all_policies())


def test_prod_makes_every_policy_mandatory() -> None:
    config = PackConfig.load(CONFIG_DIR / "prod.json")
    assert {config.enforcement(p).value for p in all_policies()} == {"mandatory"}


def test_a_stack_without_a_file_gets_the_defaults(tmp_path: Path) -> None:
    assert PackConfig.for_stack("dev", tmp_path) == PackConfig()
    (tmp_path / "dev.json").write_text("[1]")
    with pytest.raises(PackConfigError, match="expected a JSON object"):
        PackConfig.for_stack("dev", tmp_path)


def test_the_report_groups_by_policy_with_the_urns() -> None:
    violations = [
        Violation("b-rule", "advisory", "Things must b.", "urn:2"),
        Violation("a-rule", "mandatory", "Things must a.", "urn:1"),
        Violation("a-rule", "mandatory", "Things must a.", "urn:0"),
        Violation("c-rule", "mandatory", "The stack must c.", ""),
    ]
    assert render(violations) == (
        "policy pack notes-platform: 4 violations (3 mandatory, 1 advisory)\n"
        "\n"
        "mandatory  a-rule (2)\n"
        "  Things must a.\n"
        "    urn:0\n"
        "    urn:1\n"
        "\n"
        "mandatory  c-rule (1)\n"
        "  The stack must c.\n"
        "    (the stack)\n"
        "\n"
        "advisory  b-rule (1)\n"
        "  Things must b.\n"
        "    urn:2\n"
    )
    assert render([]) == "policy pack notes-platform: no violations\n"


def test_the_report_of_a_plan_without_alarms_names_every_blamed_urn() -> None:
    violations = evaluate(without_alarms(snapshot("prod")), "prod")
    report = render(violations)
    assert report.startswith(
        f"policy pack notes-platform: {len(violations)} violations ({len(violations)} mandatory"
    )
    assert f"mandatory  {ALARM_COVERAGE} ({len(violations)})" in report
    for name in CRITICAL_IN_PROD:
        assert f"::{name}\n" in report, report


def test_a_plan_json_file_can_be_evaluated(tmp_path: Path) -> None:
    path = tmp_path / "staging.json"
    path.write_text(json.dumps({"resources": snapshot("staging")}))
    assert blocking(evaluate(load_graph(path), "staging")) == []

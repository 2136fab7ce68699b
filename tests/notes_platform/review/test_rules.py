"""Each risk rule on a change to our own prod plan: a planted case that must be found, and a clean
case close to it that must not be."""

from __future__ import annotations

import json
from typing import Any

import pytest

from notes_platform.review.findings import Finding, Level
from notes_platform.review.preview import parse_preview
from notes_platform.review.rules import review
from tests.notes_platform.review import scenarios as s
from tests.notes_platform.review.scenarios import Edit, inputs, resource


def _findings(*edits: Edit) -> list[Finding]:
    return review(parse_preview(s.preview(*edits), "generated.json").steps)


def _set(name: str, key: str, value: Any) -> Edit:
    return lambda plan: inputs(plan, name).__setitem__(key, value)


def _policy(name: str, key: str, change: Any) -> Edit:
    def edit(plan: dict[str, Any]) -> None:
        document = json.loads(inputs(plan, name)[key])
        change(document)
        inputs(plan, name)[key] = json.dumps(document)

    return edit


def _waf_rule(rule: str, **fields: Any) -> Edit:
    def edit(plan: dict[str, Any]) -> None:
        target = next(r for r in inputs(plan, "prod-edge-web-acl")["rules"] if r["name"] == rule)
        target.update(fields)

    return edit


def _new_ingress(plan: dict[str, Any], *, with_new_group: bool) -> None:
    rule = json.loads(json.dumps(resource(plan, "prod-network-endpoints-in-https-vpc")))
    rule["name"] = "prod-network-endpoints-in-ssh"
    rule["urn"] = rule["urn"].replace("in-https-vpc", "in-ssh")
    rule["inputs"].update(fromPort=22, toPort=22)
    if with_new_group:
        group = json.loads(json.dumps(resource(plan, "prod-network-endpoints-sg")))
        group["urn"] = group["urn"].replace("endpoints-sg", "bastion-sg")
        group["name"] = "prod-network-bastion-sg"
        plan["resources"].append(group)
        rule["dependencies"] = [group["urn"]]
    plan["resources"].append(rule)


def _protect_off(name: str) -> Edit:
    return lambda plan: resource(plan, name).__setitem__("protect", False)


def _delete(name: str) -> Edit:
    return lambda plan: plan["resources"].remove(resource(plan, name))


def _no_header(plan: dict[str, Any]) -> None:
    inputs(plan, "prod-alb-https-origin")["conditions"] = [{"pathPattern": {"values": ["/*"]}}]


def _backup_rule(rule: str, edit: Any) -> Edit:
    def apply(plan: dict[str, Any]) -> None:
        edit(next(r for r in inputs(plan, "prod-backup-plan")["rules"] if r["ruleName"] == rule))

    return apply


def _new_vault_lock(plan: dict[str, Any]) -> None:
    lock = json.loads(json.dumps(resource(plan, "prod-backup-vault-lock")))
    lock["urn"], lock["name"] = lock["urn"] + "-2", lock["name"] + "-2"
    lock["inputs"]["backupVaultName"] = "notes-prod-archive"
    plan["resources"].append(lock)


def _drop_forecast_alert(plan: dict[str, Any]) -> None:
    budget = inputs(plan, "prod-budgets-monthly")
    budget["notifications"] = [n for n in budget["notifications"] if n["notificationType"] != "FORECASTED"]


def _statement(**statement: Any) -> Any:
    return lambda document: document["Statement"].append({"Effect": "Allow", **statement})


def _narrow_policy(document: dict[str, Any]) -> None:
    document["Statement"] = [st for st in document["Statement"] if st.get("Sid") != "EcrLogin"]


# (case, edits, rule, expected text in the finding or None for "this rule must not fire")
CASES: list[tuple[str, tuple[Edit, ...], str, str | None]] = [
    # replace / delete of stateful or identity-bearing resources
    (
        "docdb key changed",
        (_set("prod-docdb-cluster", "kmsKeyId", "arn:aws:kms:eu-west-1:1:key/other"),),
        "replace-stateful",
        "why (replaceReasons): kmsKeyId",
    ),
    (
        "docdb backup window moved",
        (_set("prod-docdb-cluster", "preferredBackupWindow", "01:00-02:00"),),
        "replace-stateful",
        None,
    ),
    ("ECR repository deleted", (_delete("prod-image-repository"),), "delete-stateful", "forceDelete=false"),
    ("ECR lifecycle policy deleted", (_delete("prod-image-lifecycle"),), "delete-stateful", None),
    (
        "API alias record renamed",
        (_set("prod-edge-alias-api.notes.example.com-a", "name", "x.notes.example.com"),),
        "replace-stateful",
        "why (replaceReasons): name",
    ),
    # protections, encryption, backups
    ("cache protect off", (_protect_off("prod-redis-group"),), "protection-reduced", "protect: on -> off"),
    (
        "docdb deletion protection off",
        (_set("prod-docdb-cluster", "deletionProtection", False),),
        "protection-reduced",
        "deletionProtection: true -> false",
    ),
    (
        "docdb backups shortened",
        (_set("prod-docdb-cluster", "backupRetentionPeriod", 7),),
        "protection-reduced",
        "backupRetentionPeriod: 35 -> 7",
    ),
    (
        "docdb backups lengthened",
        (_set("prod-docdb-cluster", "backupRetentionPeriod", 35),),
        "protection-reduced",
        None,
    ),
    (
        "cache encryption at rest off",
        (_set("prod-redis-group", "atRestEncryptionEnabled", False),),
        "protection-reduced",
        "atRestEncryptionEnabled: true -> false",
    ),
    (
        "secret recovery window cut",
        (_set("prod-docdb-app-secret", "recoveryWindowInDays", 0),),
        "protection-reduced",
        "recoveryWindowInDays: 30 -> 0",
    ),
    # security groups
    (
        "endpoint rule opened to the internet",
        (_set("prod-network-endpoints-in-https-vpc", "cidrIpv4", "0.0.0.0/0"),),
        "sg-widened",
        "(from anywhere)",
    ),
    (
        "endpoint rule port range widened",
        (_set("prod-network-endpoints-in-https-vpc", "toPort", 8443),),
        "sg-widened",
        "ports 443-8443",
    ),
    (
        "endpoint rule narrowed",
        (_set("prod-network-endpoints-in-https-vpc", "cidrIpv4", "10.30.1.0/24"),),
        "sg-widened",
        None,
    ),
    (
        "new source on the existing endpoints group",
        (lambda p: _new_ingress(p, with_new_group=False),),
        "sg-widened",
        "new source: cidrIpv4=10.30.0.0/16 port 22",
    ),
    ("new group with its own rule", (lambda p: _new_ingress(p, with_new_group=True),), "sg-widened", None),
    # IAM and key policies
    (
        "execution role may now read every bucket",
        (
            _policy(
                "prod-api-execution-policy",
                "policy",
                _statement(Sid="Everything", Action="s3:*", Resource="*"),
            ),
        ),
        "policy-broadened",
        "new actions s3:*",
    ),
    (
        "key policy open to every principal",
        (
            _policy(
                "prod-keys-docdb",
                "policy",
                _statement(Sid="Anyone", Principal={"AWS": "*"}, Action="kms:Decrypt", Resource="*"),
            ),
        ),
        "policy-broadened",
        "principals now '*'",
    ),
    (
        "execution policy narrowed",
        (_policy("prod-api-execution-policy", "policy", _narrow_policy),),
        "policy-broadened",
        None,
    ),
    # public exposure
    (
        "origin header no longer required",
        (_no_header,),
        "public-exposure",
        "without requiring X-Origin-Verify",
    ),
    (
        "origin rule re-prioritised, header kept",
        (_set("prod-alb-https-origin", "priority", 5),),
        "public-exposure",
        None,
    ),
    (
        "private subnet hands out public IPs",
        (_set("prod-network-private-eu-west-1a", "mapPublicIpOnLaunch", True),),
        "public-exposure",
        "mapPublicIpOnLaunch",
    ),
    # WAF
    (
        "auth rate limit moved to count",
        (_waf_rule("rate-limit-auth", action={"count": {}}),),
        "waf-weakened",
        "rate-limit-auth: block -> count",
    ),
    (
        "managed group moved to count",
        (_waf_rule("AWSManagedRulesKnownBadInputsRuleSet", overrideAction={"count": {}}),),
        "waf-weakened",
        "none -> count",
    ),
    (
        "auth rate limit tightened",
        (
            _waf_rule(
                "rate-limit-auth",
                statement={
                    "rateBasedStatement": {"aggregateKeyType": "IP", "evaluationWindowSec": 300, "limit": 50}
                },
            ),
        ),
        "waf-weakened",
        None,
    ),
    # day-2 guard rails
    (
        "app user rotates every 90 days instead of 30",
        (_set("prod-rotation-docdb-app-rotation", "rotationRules", {"automaticallyAfterDays": 90}),),
        "rotation-loosened",
        "rotationRules.automaticallyAfterDays: 30 -> 90",
    ),
    (
        "app user rotates more often",
        (_set("prod-rotation-docdb-app-rotation", "rotationRules", {"automaticallyAfterDays": 7}),),
        "rotation-loosened",
        None,
    ),
    ("JWT rotation schedule deleted", (_delete("prod-rotation-jwt-rotation"),), "protection-off", "rotation"),
    (
        "daily recovery points kept 7 days",
        (_backup_rule("daily", lambda r: r["lifecycle"].__setitem__("deleteAfter", 7)),),
        "backups-reduced",
        "rule daily: lifecycle.deleteAfter: 35 -> 7",
    ),
    (
        "monthly recovery points no longer copied",
        (_backup_rule("monthly", lambda r: r.__setitem__("copyActions", [])),),
        "backups-reduced",
        "rule monthly: no longer copied to arn:aws:backup:eu-central-1",
    ),
    (
        "monthly recovery points kept longer",
        (_backup_rule("monthly", lambda r: r["lifecycle"].__setitem__("deleteAfter", 730)),),
        "backups-reduced",
        None,
    ),
    (
        "cluster no longer selected for backup",
        (_delete("prod-backup-selection"),),
        "protection-off",
        "the plan stops backing those resources up",
    ),
    (
        "vault lock cooling-off shortened",
        (_set("prod-backup-vault-lock", "changeableForDays", 3),),
        "vault-lock",
        "irreversible 3 days after this deploy",
    ),
    (
        "a new vault locked",
        (_new_vault_lock,),
        "vault-lock",
        "Vault Lock in compliance mode on notes-prod-archive",
    ),
    (
        "budget raised",
        (_set("prod-budgets-monthly", "limitAmount", "9000"),),
        "budget-loosened",
        "limitAmount: 6000 -> 9000",
    ),
    ("forecast alert dropped", (_drop_forecast_alert,), "budget-loosened", "forecasted alert removed"),
    ("budget lowered", (_set("prod-budgets-monthly", "limitAmount", "5000"),), "budget-loosened", None),
    # deserves a look
    (
        "task definition: one more worker",
        (s.more_workers,),
        "task-definition",
        "api.environment.NOTES_WORKERS.value: 2 -> 4",
    ),
    ("task definition: only AWS-filled defaults", (s.aws_filled_defaults,), "task-definition", None),
    ("new image digest", (s.new_digest,), "image-digest", "-> sha256:999999999999"),
    (
        "alarm threshold raised",
        (_set("prod-data-alarms-docdb-1-connections", "threshold", 5000),),
        "alarm-threshold",
        "threshold: 1360 -> 5000",
    ),
    (
        "alarm description reworded",
        (_set("prod-data-alarms-docdb-1-connections", "alarmDescription", "x"),),
        "alarm-threshold",
        None,
    ),
    (
        "scaling ceiling lowered",
        (_set("prod-api-scaling-target", "maxCapacity", 4),),
        "scaling",
        "maxCapacity: 12 -> 4",
    ),
]


@pytest.mark.parametrize(("case", "edits", "rule", "expected"), CASES, ids=[c[0] for c in CASES])
def test_each_rule_finds_its_planted_case_and_leaves_the_clean_one(
    case: str, edits: tuple[Edit, ...], rule: str, expected: str | None
) -> None:
    # GIVEN a preview of prod with one edit / WHEN it is reviewed
    found = [f for f in _findings(*edits) if f.rule == rule]
    # THEN the rule fires with the expected text (naming the URN), or stays silent on the clean case
    if expected is None:
        assert found == [], f"{case}: {rule} fired on {[f.urn for f in found]}"
        return
    assert found, f"{case}: {rule} did not fire"
    text = "\n".join(f"{f.title}\n" + "\n".join(f.details) for f in found)
    assert expected in text, f"{case}: {[f.urn for f in found]}\n{text}"


def test_approval_rules_sort_first_and_look_rules_are_not_approvals() -> None:
    # GIVEN the README's risky change / WHEN reviewed
    found = _findings(s.risky)
    levels = [f.level for f in found]
    # THEN approvals come first, and the look rules stay at their level
    assert levels == sorted(levels)
    assert {f.rule for f in found if f.level == Level.LOOK} == {"image-digest", "task-definition", "scaling"}


def test_a_perma_diff_is_routine_and_says_no_real_change() -> None:
    # GIVEN container definitions that differ only by what AWS fills in
    found = _findings(s.aws_filled_defaults)
    # THEN the only finding is a routine note citing the provider issue
    assert [(f.level, f.rule) for f in found] == [(Level.ROUTINE, "perma-diff")]
    assert "no real change (pulumi/pulumi-aws#4576)" in found[0].title


def test_a_plan_with_no_edit_has_no_steps() -> None:
    document = s.preview()
    assert document["steps"] == [] and document["changeSummary"]["same"] == len(s.prod_plan()["resources"])

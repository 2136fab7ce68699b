"""The log-delivery check and the exports bucket's access logs: prod sends them to the ALB's log
bucket, whose policy admits S3 log delivery for the exports bucket only, and the logging waits for
that policy; staging sends none. Each mistake of the kind, planted into prod's plan, is found."""

from __future__ import annotations

import copy
import dataclasses
import json
from typing import Any

import pytest

from notes_platform.checks import log_delivery
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan


def _one(resources: list[Recorded], type_token: str, name: str) -> Recorded:
    [found] = [r for r in resources if r.type == type_token and r.name == name]
    return found


def _statement(policy: Recorded) -> dict[str, Any]:
    document = json.loads(policy.inputs["policy"])
    [statement] = [s for s in document["Statement"] if s.get("Sid") == "S3ServerAccessLogsOfExports"]
    return dict(statement)


def test_prod_logs_the_exports_bucket_into_the_alb_log_bucket(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan (exportsAccessLogs: true)
    resources = plans["prod"].resources
    logging = _one(resources, log_delivery.BUCKET_LOGGING, "prod-exports-access-logs")
    policy = _one(resources, log_delivery.BUCKET_POLICY, "prod-alb-logs-policy")
    # THEN the exports bucket logs under s3/exports/ of the ALB's log bucket
    assert logging.inputs["bucket"].startswith("notes-prod-exports-")
    assert logging.inputs["targetBucket"] == policy.inputs["bucket"]
    assert logging.inputs["targetPrefix"] == "s3/exports/"
    # AND that bucket's policy admits S3 log delivery for this account's exports buckets only
    statement = _statement(policy)
    assert statement["Principal"] == {"Service": "logging.s3.amazonaws.com"}
    assert statement["Resource"] == f"arn:aws:s3:::{policy.inputs['bucket']}/s3/exports/*"
    assert statement["Condition"] == {
        "ArnLike": {"aws:SourceArn": "arn:aws:s3:::notes-prod-exports-*"},
        "StringEquals": {"aws:SourceAccount": "123456789012"},
    }
    # AND the check finds nothing
    assert log_delivery.check(resources) == []


def test_staging_has_no_access_logs_of_its_exports(plans: dict[str, Plan]) -> None:
    # GIVEN staging's plan (exportsAccessLogs: false)  THEN no logging and no delivery statement
    resources = plans["staging"].resources
    assert [r for r in resources if r.type == log_delivery.BUCKET_LOGGING] == []
    policy = _one(resources, log_delivery.BUCKET_POLICY, "staging-alb-logs-policy")
    assert "logging.s3.amazonaws.com" not in policy.inputs["policy"]


def _plant_statement(resources: list[Recorded], change: Any) -> list[Recorded]:
    policy = _one(resources, log_delivery.BUCKET_POLICY, "prod-alb-logs-policy")
    document = json.loads(policy.inputs["policy"])
    document["Statement"] = [
        change(s) if s.get("Sid") == "S3ServerAccessLogsOfExports" else s for s in document["Statement"]
    ]
    document["Statement"] = [s for s in document["Statement"] if s is not None]
    planted = dataclasses.replace(policy, inputs={**policy.inputs, "policy": json.dumps(document)})
    return [planted if r is policy else r for r in resources]


def _without_dependency(resources: list[Recorded]) -> list[Recorded]:
    logging = _one(resources, log_delivery.BUCKET_LOGGING, "prod-exports-access-logs")
    kept = [d for d in logging.dependencies if "alb-logs-policy" not in d]
    planted = dataclasses.replace(logging, dependencies=kept)
    return [planted if r is logging else r for r in resources]


def _target_under_kms(resources: list[Recorded]) -> list[Recorded]:
    encryption = _one(resources, log_delivery.BUCKET_ENCRYPTION, "prod-alb-logs-encryption")
    rules = [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "aws:kms"}}]
    planted = dataclasses.replace(encryption, inputs={**encryption.inputs, "rules": rules})
    return [planted if r is encryption else r for r in resources]


@pytest.mark.parametrize(
    ("mistake", "plant", "expected"),
    [
        ("no delivery statement", lambda rs: _plant_statement(rs, lambda s: None), "must let logging.s3"),
        (
            "another prefix",
            lambda rs: _plant_statement(
                rs, lambda s: {**s, "Resource": s["Resource"].replace("s3/exports", "s3/other")}
            ),
            "must let logging.s3",
        ),
        (
            "another source bucket",
            lambda rs: _plant_statement(
                rs,
                lambda s: {
                    **s,
                    "Condition": {"ArnLike": {"aws:SourceArn": "arn:aws:s3:::notes-prod-other-*"}},
                },
            ),
            "must let logging.s3",
        ),
        (
            "the ELB principal instead",
            lambda rs: _plant_statement(
                rs,
                lambda s: {**s, "Principal": {"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}},
            ),
            "must let logging.s3",
        ),
        ("logging before the policy", _without_dependency, "may be created before"),
        ("a target under SSE-KMS", _target_under_kms, "defaults to SSE-KMS"),
    ],
)
def test_each_planted_mistake_is_found(
    plans: dict[str, Plan], mistake: str, plant: Any, expected: str
) -> None:
    # GIVEN prod's plan with one mistake of the kind
    resources = plant(copy.deepcopy(plans["prod"].resources))
    # WHEN the check runs  THEN it names the logging configuration and the mistake
    findings = log_delivery.check(resources)
    assert len(findings) == 1, (mistake, findings)
    assert findings[0].urn.endswith("prod-exports-access-logs")
    assert expected in findings[0].message, (mistake, findings[0].message)

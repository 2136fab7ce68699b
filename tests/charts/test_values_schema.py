"""values.schema.json and the chart's render-time checks refuse bad values files, naming the key.

GIVEN a committed values file with one planted mistake, WHEN the chart is rendered (Helm validates
the values against values.schema.json first), THEN it is refused with a message naming the key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from helm_python import HelmRenderError, HelmValuesError

from tests.charts.chart import VALUES_FILES, render, values

Mutation = Callable[[dict[str, Any]], None]


def _set(path: str, value: Any) -> Mutation:
    def mutate(v: dict[str, Any]) -> None:
        *parents, leaf = path.split(".")
        node = v
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value

    return mutate


# (what is planted, mutation, expected exception, text the message must hold)
CASES: list[tuple[str, Mutation, type[Exception], str]] = [
    ("a tag instead of a digest", _set("image.digest", "1.4.2"), HelmValuesError, "/image/digest"),
    (
        "a tag in the repository",
        _set("image.repository", "ecr.example/notes-api:1.4.2"),
        HelmValuesError,
        "/image/repository",
    ),
    ("a short digest", _set("image.digest", "sha256:abc"), HelmValuesError, "/image/digest"),
    ("resources removed", _set("resources", None), HelmValuesError, "missing property 'resources'"),
    (
        "no limits",
        _set("resources", {"requests": {"cpu": "1", "memory": "1Gi"}}),
        HelmValuesError,
        "missing property 'limits'",
    ),
    (
        "no memory request",
        _set("resources.requests", {"cpu": "1"}),
        HelmValuesError,
        "missing property 'memory'",
    ),
    (
        "HPA floor equal to the PDB",
        _set("podDisruptionBudget.minAvailable", 99),
        HelmRenderError,
        "autoscaling.minReplicas",
    ),
    (
        "fixed replicas below the PDB",
        lambda v: (
            _set("autoscaling.enabled", False)(v),
            _set("replicaCount", 1)(v),
            _set("podDisruptionBudget.minAvailable", 2)(v),
        ),
        HelmRenderError,
        "replicaCount (1) must exceed podDisruptionBudget.minAvailable (2)",
    ),
    (
        "a secret value instead of its ARN",
        _set("config.extraEnv", {"NOTES_JWT_SIGNING_KEY": "x" * 40}),
        HelmValuesError,
        "invalid propertyName 'NOTES_JWT_SIGNING_KEY'",
    ),
    (
        "a target group that is not an ARN",
        _set("targetGroupBinding.targetGroupArn", "notes-api"),
        HelmValuesError,
        "/targetGroupBinding/targetGroupArn",
    ),
    (
        "no data tier CIDRs",
        _set("networkPolicy.dataTierCidrs", []),
        HelmValuesError,
        "/networkPolicy/dataTierCidrs",
    ),
    ("a misspelt key", _set("replicas", 3), HelmValuesError, "replicas"),
    # The export worker (worker.enabled is true in both committed files).
    (
        "the worker without a queue",
        _set("exports.queueUrl", ""),
        HelmRenderError,
        "exports.queueUrl is required when worker.enabled is true",
    ),
    (
        "the worker without a bucket",
        _set("exports.bucket", ""),
        HelmRenderError,
        "exports.bucket is required when worker.enabled is true",
    ),
    (
        "the worker without a region",
        _set("exports", {"queueUrl": "https://sqs.eu-west-1.amazonaws.com/123456789012/q", "bucket": "b-1"}),
        HelmRenderError,
        "exports.region is required when worker.enabled is true",
    ),
    (
        "the queue's ARN instead of its URL",
        _set("exports.queueUrl", "arn:aws:sqs:eu-west-1:123456789012:notes-staging-exports"),
        HelmValuesError,
        "/exports/queueUrl",
    ),
    ("a prefix without its slash", _set("exports.prefix", "exports"), HelmValuesError, "/exports/prefix"),
    (
        "more receives than SQS allows",
        _set("exports.maxReceives", 1001),
        HelmValuesError,
        "/exports/maxReceives",
    ),
    (
        "a job timeout above what a visibility timeout can cover",
        _set("exports.jobTimeoutSeconds", 43200),
        HelmValuesError,
        "/exports/jobTimeoutSeconds",
    ),
    (
        "a grace period no longer than the worker's shutdown grace",
        lambda v: (
            _set("worker.shutdownGraceSeconds", 90)(v),
            _set("worker.terminationGracePeriodSeconds", 90)(v),
        ),
        HelmRenderError,
        "worker.terminationGracePeriodSeconds (90) must exceed worker.shutdownGraceSeconds (90)",
    ),
    (
        "a shutdown grace the service refuses",
        _set("worker.shutdownGraceSeconds", 121),
        HelmValuesError,
        "/worker/shutdownGraceSeconds",
    ),
    (
        "the worker without sizes",
        _set("worker.resources", None),
        HelmValuesError,
        "at '/worker': missing property 'resources'",
    ),
    (
        "the worker without limits",
        _set("worker.resources", {"requests": {"cpu": "1", "memory": "1Gi"}}),
        HelmValuesError,
        "at '/worker/resources': missing property 'limits'",
    ),
    (
        "the worker on the API's service account",
        _set("worker.serviceAccount.name", "notes-api"),
        HelmRenderError,
        "worker.serviceAccount.name (notes-api) must differ from serviceAccount.name",
    ),
    (
        "a worker HPA ceiling below its floor",
        _set(
            "worker.autoscaling",
            {"enabled": True, "minReplicas": 3, "maxReplicas": 2, "targetCPUUtilizationPercentage": 70},
        ),
        HelmRenderError,
        "worker.autoscaling.maxReplicas (2) is below worker.autoscaling.minReplicas (3)",
    ),
    (
        "the queue set around the worker switch",
        _set("config.extraEnv", {"NOTES_EXPORT_QUEUE_URL": "https://sqs.eu-west-1.amazonaws.com/1/q"}),
        HelmValuesError,
        "invalid propertyName 'NOTES_EXPORT_QUEUE_URL'",
    ),
    (
        "a secret value in the worker's environment",
        _set("worker.extraEnv", {"NOTES_MONGODB_URI": "mongodb://user:pw@docdb:27017"}),
        HelmValuesError,
        "invalid propertyName 'NOTES_MONGODB_URI'",
    ),
    (
        "a misspelt worker key",
        _set("worker.replicas", 2),
        HelmValuesError,
        "at '/worker': additional properties 'replicas' not allowed",
    ),
    # The dbusers hook Job (dbusers.enabled is true in both committed files).
    (
        "the dbusers Job without the app secret",
        _set("dbusers.appSecretArn", ""),
        HelmValuesError,
        "/dbusers/appSecretArn",
    ),
    (
        "the dbusers Job without the master secret",
        lambda v: v["dbusers"].pop("masterSecretArn"),
        HelmValuesError,
        "/dbusers/masterSecretArn",
    ),
    (
        "the dbusers Job given a secret's name, not its ARN",
        _set("dbusers.masterSecretArn", "rds!cluster-0a1b2c3d"),
        HelmValuesError,
        "/dbusers/masterSecretArn",
    ),
    (
        "the dbusers Job on another secret than the API's",
        _set("dbusers.appSecretArn", "arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf"),
        HelmRenderError,
        "dbusers.appSecretArn (arn:aws:secretsmanager:eu-west-1:123456789012:secret:other-AbCdEf) must be "
        "config.mongodbUriSecretArn",
    ),
    (
        "the master secret given as the app secret",
        lambda v: _set("dbusers.masterSecretArn", v["dbusers"]["appSecretArn"])(v),
        HelmRenderError,
        "dbusers.masterSecretArn must be the cluster's master user secret",
    ),
    (
        "the dbusers Job on the API's service account",
        _set("dbusers.serviceAccount.name", "notes-api"),
        HelmRenderError,
        "dbusers.serviceAccount.name (notes-api) must differ from serviceAccount.name",
    ),
    (
        "the dbusers Job on the worker's service account",
        _set("dbusers.serviceAccount.name", "notes-api-worker"),
        HelmRenderError,
        "dbusers.serviceAccount.name (notes-api-worker) must differ from worker.serviceAccount.name",
    ),
    (
        "a dbusers deadline past any release timeout",
        _set("dbusers.activeDeadlineSeconds", 7200),
        HelmValuesError,
        "/dbusers/activeDeadlineSeconds",
    ),
    (
        "a misspelt dbusers key",
        _set("dbusers.enable", True),
        HelmValuesError,
        "at '/dbusers': additional properties 'enable' not allowed",
    ),
]


@pytest.mark.parametrize("values_file", VALUES_FILES)
@pytest.mark.parametrize(("planted", "mutate", "error", "message"), CASES, ids=[c[0] for c in CASES])
def test_a_bad_values_file_is_refused_naming_the_key(
    values_file: str, planted: str, mutate: Mutation, error: type[Exception], message: str
) -> None:
    # GIVEN the values file with the planted mistake
    bad = values(values_file)
    mutate(bad)
    # WHEN rendered THEN refused, and the message says which key
    with pytest.raises(error) as refused:
        render(bad)
    assert message in str(refused.value), f"{values_file} with {planted}: {refused.value}"


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_the_committed_values_files_render(values_file: str) -> None:
    assert render(values(values_file)), values_file


def test_the_chart_defaults_alone_are_refused() -> None:
    # GIVEN no values file WHEN rendered THEN refused: there is no default image, target group or size.
    with pytest.raises(HelmValuesError, match=r"digest|resources|targetGroupArn"):
        render({})

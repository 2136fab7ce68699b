"""Note exports on the EKS stack (Pulumi.staging-eks.yaml) planned whole: the chart runs the export
worker with this stack's queue and bucket, the worker's Pod Identity role is bound to the chart's
worker service account and holds exactly the worker's statements, the API's holds the sender's,
the release waits for both roles, and the queues alarm without an ECS worker service."""

from __future__ import annotations

import copy
import json
from typing import Any

from infra.exports import sender_statements, worker_statements
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from notes_platform.graph.plan import Plan
from stacks import outputs as out
from stacks.compute import API_RELEASE, API_SERVICE_ACCOUNT
from stacks.eks_exports import WORKER_SERVICE_ACCOUNT
from stacks.exports import EXPORT_PREFIX
from tests.charts.chart import manifests, one
from tests.charts.chart import values as chart_values
from tests.type_tokens import IAM_ROLE_POLICY, METRIC_ALARM, S3_LIFECYCLE, SQS_QUEUE

STACK = "staging-eks"
RELEASE = "kubernetes:helm.sh/v3:Release"
ASSOCIATION = "aws:eks/podIdentityAssociation:PodIdentityAssociation"


def _release(plan: Plan) -> Recorded:
    [release] = [r for r in plan.of_type(RELEASE) if r.inputs.get("name") == API_RELEASE]
    return release


def _association(plan: Plan, component: str) -> Recorded:
    [association] = [a for a in plan.of_type(ASSOCIATION) if f"notes:infra:{component}$" in a.urn]
    return association


def _policy(plan: Plan, name: str) -> list[dict[str, Any]]:
    [policy] = [p for p in plan.of_type(IAM_ROLE_POLICY) if p.name == name]
    statements: list[dict[str, Any]] = json.loads(policy.inputs["policy"])["Statement"]
    return statements


def _queue(plan: Plan) -> Recorded:
    [queue] = [q for q in plan.of_type(SQS_QUEUE) if not q.inputs["name"].endswith("-dlq")]
    return queue


def _arns(plan: Plan) -> tuple[str, str, str]:
    """The exports queue's, bucket's and key's ARNs, from the plan's own resources: an SQS ARN
    ends in the queue's name and an S3 one is the bucket's name (terraform-provider-aws docs for
    aws_sqs_queue and aws_s3_bucket); the queue is encrypted with the exports key."""
    queue = _queue(plan)
    region = plan.config.region
    return (
        f"arn:aws:sqs:{region}:{ACCOUNT_ID}:{queue.inputs['name']}",
        f"arn:aws:s3:::{plan.outputs[out.EXPORT_BUCKET]}",
        queue.inputs["kmsMasterKeyId"],
    )


def test_the_worker_pod_identity_binds_the_charts_worker_service_account(eks_plan: Plan) -> None:
    # GIVEN the planned associations and the chart's values
    worker = _association(eks_plan, "WorkerPodIdentity")
    api = _association(eks_plan, "ApiPodIdentity")
    values = _release(eks_plan).inputs["values"]
    # THEN the worker's association names the service account the chart's worker pods run as,
    # in the release's namespace of this stack's cluster, with the worker's own role
    assert (
        worker.inputs["serviceAccount"]
        == values["worker"]["serviceAccount"]["name"]
        == WORKER_SERVICE_ACCOUNT
    )
    assert worker.inputs["namespace"] == _release(eks_plan).inputs["namespace"] == api.inputs["namespace"]
    assert worker.inputs["clusterName"] == eks_plan.outputs[out.CLUSTER_NAME], worker.urn
    assert worker.inputs["roleArn"].endswith(":role/notes-staging-eks-worker-pod"), worker.urn
    # AND the API's stays on the API's account and role: no pod holds the other's
    assert api.inputs["serviceAccount"] == values["serviceAccount"]["name"] == API_SERVICE_ACCOUNT
    assert api.inputs["roleArn"].endswith(":role/notes-staging-eks-api-pod"), api.urn


def test_the_worker_role_holds_exactly_the_worker_statements(eks_plan: Plan) -> None:
    # GIVEN the worker role's two policies
    access = _policy(eks_plan, "staging-eks-worker-pod-identity-access")
    secrets = _policy(eks_plan, "staging-eks-worker-pod-identity-secrets")
    # THEN the access policy is the exports tier's worker statements for this stack's queue,
    # bucket and key, and nothing else
    assert access == worker_statements(*_arns(eks_plan), prefix=EXPORT_PREFIX)
    # AND it reads the MongoDB URI's secret the chart gives its pods, and no other secret
    [read] = [s for s in secrets if s["Action"] == "secretsmanager:GetSecretValue"]
    assert read["Resource"] == [_release(eks_plan).inputs["values"]["config"]["mongodbUriSecretArn"]]


def test_the_api_role_holds_the_sender_statements(eks_plan: Plan) -> None:
    # GIVEN the API role's access policy WHEN read THEN it sends jobs and reads exports to
    # presign them, for this stack's queue, bucket and key: nothing the worker does
    access = _policy(eks_plan, "staging-eks-api-pod-identity-access")
    assert access == sender_statements(*_arns(eks_plan), prefix=EXPORT_PREFIX)
    actions = {action for statement in access for action in statement["Action"]}
    assert not actions & {"sqs:ReceiveMessage", "sqs:DeleteMessage", "s3:PutObject"}, actions


def test_the_chart_values_enable_the_worker_with_this_stacks_queue_and_bucket(eks_plan: Plan) -> None:
    # GIVEN the release's values and the planned queue and bucket lifecycle
    values = _release(eks_plan).inputs["values"]
    exports, worker = values["exports"], values["worker"]
    queue = _queue(eks_plan)
    [lifecycle] = [r for r in eks_plan.of_type(S3_LIFECYCLE) if "ExportBucket" in r.urn]
    [expiry] = [r["expiration"]["days"] for r in lifecycle.inputs["rules"] if "expiration" in r]
    config = eks_plan.config
    # THEN the worker runs, against this stack's queue and bucket in its region
    assert worker["enabled"] is True
    assert exports["queueUrl"] == eks_plan.outputs[out.EXPORT_QUEUE_URL]
    assert exports["bucket"] == eks_plan.outputs[out.EXPORT_BUCKET] == lifecycle.inputs["bucket"]
    assert (exports["region"], exports["prefix"]) == (config.region, EXPORT_PREFIX)
    # AND the settings agree with the queue and the bucket as on ECS
    assert exports["maxReceives"] == json.loads(queue.inputs["redrivePolicy"])["maxReceiveCount"]
    assert exports["retentionDays"] == expiry, lifecycle.urn
    assert exports["jobTimeoutSeconds"] < queue.inputs["visibilityTimeoutSeconds"], queue.urn
    assert exports["maxInFlight"] == config.exports.max_in_flight_per_user
    # AND the pods are sized and counted from the worker* keys
    assert (
        worker["resources"]["requests"] == worker["resources"]["limits"] == {"cpu": "250m", "memory": "512Mi"}
    )
    assert (worker["replicaCount"], worker["autoscaling"]["minReplicas"]) == (config.worker.min_count,) * 2
    assert worker["autoscaling"]["maxReplicas"] == config.worker.max_count
    assert worker["shutdownGraceSeconds"] == config.worker.shutdown_grace_seconds
    assert worker["terminationGracePeriodSeconds"] > worker["shutdownGraceSeconds"]


def test_the_chart_renders_the_worker_from_the_stacks_values(eks_plan: Plan) -> None:
    # GIVEN the release's values, with a target group ARN of AWS's shape in place of the mocks'
    # (the chart's schema checks its shape; the exports values are the plan's own)
    values = copy.deepcopy(_release(eks_plan).inputs["values"])
    values["targetGroupBinding"]["targetGroupArn"] = chart_values("values-staging.yaml")[
        "targetGroupBinding"
    ]["targetGroupArn"]
    # WHEN the chart renders them (its schema and render checks included)
    objects = manifests(values)
    # THEN the worker's Deployment runs as the service account the association binds
    worker = one(objects, "Deployment", f"{API_RELEASE}-worker")["spec"]["template"]["spec"]
    assert (
        worker["serviceAccountName"] == _association(eks_plan, "WorkerPodIdentity").inputs["serviceAccount"]
    )
    # AND the worker and the API both read this stack's queue URL
    api = one(objects, "Deployment", API_RELEASE)["spec"]["template"]["spec"]
    for pod in (worker, api):
        [container] = [c for c in pod["containers"] if c["name"] in ("worker", "api")]
        env = {e["name"]: e.get("value") for e in container["env"]}
        assert env["NOTES_EXPORT_QUEUE_URL"] == eks_plan.outputs[out.EXPORT_QUEUE_URL], container["name"]


def test_the_release_waits_for_the_worker_pod_identity(eks_plan: Plan) -> None:
    # GIVEN the release WHEN its dependencies are read THEN both associations come first: a pod
    # created before its association gets no credentials
    dependencies = _release(eks_plan).dependencies
    for component in ("WorkerPodIdentity", "ApiPodIdentity"):
        assert _association(eks_plan, component).urn in dependencies, component


def test_the_queues_alarm_on_eks_plan_an_ecs_worker_alarm(eks_plan: Plan) -> None:
    # GIVEN the EKS stack's alarms WHEN named THEN the exports queue's and its DLQ's are there,
    # and no alarm counts the tasks of an ECS worker service that does not exist
    names = {a.inputs["name"] for a in eks_plan.of_type(METRIC_ALARM)}
    assert {"notes-staging-eks-exports-oldest-message", "notes-staging-eks-exports-dlq-not-empty"} <= names
    assert "notes-staging-eks-worker-running-tasks" not in names
    # AND the oldest-message alarm sends the reader to the pods
    [oldest] = [
        a for a in eks_plan.of_type(METRIC_ALARM) if a.inputs["name"].endswith("exports-oldest-message")
    ]
    assert "Deployment's pods" in oldest.inputs["alarmDescription"], oldest.urn

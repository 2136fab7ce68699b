"""Whole-stack properties of both planned stacks: what a reviewer must be able to trust."""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import json
from functools import cache
from typing import Any

import pytest

from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan
from stacks import outputs as out
from tests.type_tokens import METRIC_ALARM, S3_LIFECYCLE, SCALING_POLICY, SCALING_TARGET, SQS_QUEUE

STACKS = ["staging", "prod"]
REQUIRED_TAGS = {"Project", "Environment", "Owner", "CostCenter"}


@cache
def is_taggable(type_token: str) -> bool:
    """Whether the pulumi_aws resource behind a type token takes `tags`."""
    package, module_path, _ = type_token.split(":", 2)
    if package != "aws" or type_token.startswith("pulumi:"):
        return False
    module_name, class_name = module_path.split("/")[0], type_token.rsplit(":", 1)[1]
    module_name = {"lambda": "lambda_"}.get(module_name, module_name)  # a keyword in Python
    module = importlib.import_module(f"pulumi_aws.{module_name}" if module_name != "index" else "pulumi_aws")
    cls = getattr(module, class_name)
    return "tags" in inspect.signature(cls._internal_init).parameters


def _aws(plan: Plan) -> list[Recorded]:
    return [r for r in plan.resources if r.custom and r.type.startswith("aws:")]


@pytest.mark.parametrize("stack", STACKS)
def test_every_taggable_resource_carries_the_default_tags(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    untagged = []
    for resource in _aws(plan):
        if not is_taggable(resource.type):
            continue
        provider = plan.provider_of(resource)
        tags = json.loads(provider.inputs.get("defaultTags", "{}")).get("tags", {}) if provider else {}
        explicit = resource.inputs.get("tags") or {}
        if not set(tags) | set(explicit) >= REQUIRED_TAGS:
            untagged.append(resource.urn)
    assert not untagged, f"taggable resources without {sorted(REQUIRED_TAGS)}: {untagged}"
    for provider in plan.of_type("pulumi:providers:aws"):
        tags = json.loads(provider.inputs["defaultTags"])["tags"]
        assert tags["Environment"] == stack, provider.urn


@pytest.mark.parametrize("stack", STACKS)
def test_encryption_at_rest_everywhere(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    problems = []
    for r in _aws(plan):
        i = r.inputs
        if r.type == "aws:cloudwatch/logGroup:LogGroup" and not (
            i.get("kmsKeyId") and i.get("retentionInDays")
        ):
            problems.append(f"{r.urn}: log group needs kmsKeyId and retentionInDays")
        if r.type == "aws:docdb/cluster:Cluster" and not (i.get("storageEncrypted") and i.get("kmsKeyId")):
            problems.append(f"{r.urn}: storage not encrypted with our key")
        if r.type == "aws:elasticache/replicationGroup:ReplicationGroup" and not (
            i.get("atRestEncryptionEnabled") and i.get("transitEncryptionEnabled") and i.get("kmsKeyId")
        ):
            problems.append(f"{r.urn}: cache not encrypted at rest and in transit")
        if r.type == "aws:secretsmanager/secret:Secret" and not i.get("kmsKeyId"):
            problems.append(f"{r.urn}: secret without our KMS key")
        if r.type == "aws:kms/key:Key" and not i.get("enableKeyRotation"):
            problems.append(f"{r.urn}: key rotation off")
        if r.type == "aws:ecr/repository:Repository" and not any(
            c.get("encryptionType") == "KMS" for c in i.get("encryptionConfigurations", [])
        ):
            problems.append(f"{r.urn}: repository not KMS-encrypted")
    # An encryption configuration names its bucket through the bucket's id (a dependency).
    encrypted = {
        urn
        for r in _aws(plan)
        if r.type.startswith("aws:s3/bucketServerSideEncryptionConfiguration")
        for urn in r.property_dependencies.get("bucket", [])
    }
    problems += [
        f"{b.urn}: bucket without a server-side encryption configuration"
        for b in _aws(plan)
        if b.type in ("aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2")
        if b.urn not in encrypted
    ]
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("stack", STACKS)
def test_nothing_gets_a_public_ip_and_nothing_admits_the_internet(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    problems = []
    for r in _aws(plan):
        if r.type == "aws:ec2/subnet:Subnet" and r.inputs.get("mapPublicIpOnLaunch"):
            problems.append(f"{r.urn}: maps public IPs on launch")
        if r.type == "aws:ecs/service:Service" and r.inputs.get("networkConfiguration", {}).get(
            "assignPublicIp"
        ):
            problems.append(f"{r.urn}: tasks get public IPs")
        if r.type == "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule" and (
            r.inputs.get("cidrIpv4") == "0.0.0.0/0" or r.inputs.get("cidrIpv6") == "::/0"
        ):
            problems.append(f"{r.urn}: ingress from the whole internet")
        if r.type == "aws:ec2/securityGroup:SecurityGroup":
            for rule in r.inputs.get("ingress", []):
                if "0.0.0.0/0" in rule.get("cidrBlocks", []) or "::/0" in rule.get("ipv6CidrBlocks", []):
                    problems.append(f"{r.urn}: inline ingress from the whole internet")
    assert not problems, "\n".join(problems)


def _container(plan: Plan, service: str = "api", name: str | None = None) -> dict[str, Any]:
    """The container ``name`` (default: the service's own) of the API's (or the export worker's)
    task definition; the API's task also has its init container ``dbusers``."""
    (task,) = [
        t
        for t in plan.of_type("aws:ecs/taskDefinition:TaskDefinition")
        if t.inputs["family"] == f"notes-{plan.config.general.environment}-{service}"
    ]
    definitions = {c["name"]: c for c in json.loads(task.inputs["containerDefinitions"])}
    assert set(definitions) == ({"api", "dbusers"} if service == "api" else {service}), task.urn
    return dict(definitions[name or service])


def _service(plan: Plan, service: str = "api") -> Recorded:
    (found,) = [
        s
        for s in plan.of_type("aws:ecs/service:Service")
        if s.inputs["name"] == f"notes-{plan.config.general.environment}-{service}"
    ]
    return found


@pytest.mark.parametrize("stack", STACKS)
def test_secrets_reach_the_task_by_arn_only(plans: dict[str, Plan], stack: str) -> None:
    container = _container(plans[stack])
    # ECS injects the Redis token; the API reads the app's DocumentDB secret and the JWT key set
    # itself, by ARN, and again after a rotation
    secrets = {s["name"]: s["valueFrom"] for s in container.get("secrets", [])}
    assert set(secrets) == {"NOTES_REDIS_AUTH_TOKEN"}, secrets
    by_arn = {k: v for k, v in _environment(container).items() if k.endswith("_SECRET_ARN")}
    assert set(by_arn) == {"NOTES_MONGODB_URI_SECRET_ARN", "NOTES_JWT_SIGNING_KEY_SECRET_ARN"}, by_arn
    outputs = plans[stack].outputs
    assert by_arn["NOTES_MONGODB_URI_SECRET_ARN"] == outputs[out.DOCDB_APP_SECRET_ARN]
    assert by_arn["NOTES_JWT_SIGNING_KEY_SECRET_ARN"] == outputs[out.JWT_SECRET_ARN]
    assert all(arn.startswith("arn:aws:secretsmanager:") for arn in [*secrets.values(), *by_arn.values()])
    plain = {e["name"] for e in container.get("environment", [])}
    assert not plain & set(secrets), plain & set(secrets)
    assert "NOTES_MONGODB_URI" not in plain | set(secrets)
    assert container["readonlyRootFilesystem"] is True
    assert container.get("privileged") in (None, False)


@pytest.mark.parametrize("stack", STACKS)
def test_the_worker_reads_only_the_database_secret(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN the export worker's container in the planned stack
    container = _container(plans[stack], "worker")
    # THEN it runs the API's image with the worker's command, hardened like the API
    assert container["image"] == _container(plans[stack])["image"]
    assert container["command"] == ["python", "-m", "notes_api.worker"]
    assert container["readonlyRootFilesystem"] is True and container["portMappings"] == []
    # AND it reads the app's DocumentDB secret only, itself: ECS injects nothing, and neither the
    # Redis token nor the JWT key is named
    assert container["secrets"] == [], container["secrets"]
    by_arn = {k: v for k, v in _environment(container).items() if k.endswith("_SECRET_ARN")}
    assert by_arn == {"NOTES_MONGODB_URI_SECRET_ARN": plans[stack].outputs[out.DOCDB_APP_SECRET_ARN]}


def _environment(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["environment"]}


@pytest.mark.parametrize("stack", STACKS)
def test_the_export_settings_agree_with_the_queue_and_the_bucket(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    api, worker = _environment(_container(plan)), _environment(_container(plan, "worker"))
    (queue,) = [q for q in plan.of_type(SQS_QUEUE) if not q.inputs["name"].endswith("-dlq")]
    (lifecycle,) = [r for r in plan.of_type(S3_LIFECYCLE) if "ExportBucket" in r.urn]
    (expiry,) = [r["expiration"]["days"] for r in lifecycle.inputs["rules"] if "expiration" in r]
    redrive = json.loads(queue.inputs["redrivePolicy"])
    # THEN the API and the worker name the stack's queue and bucket, in the stack's region
    for environment in (api, worker):
        assert environment["NOTES_EXPORT_QUEUE_URL"] == plan.outputs[out.EXPORT_QUEUE_URL], environment
        assert (
            environment["NOTES_EXPORT_BUCKET"]
            == plan.outputs[out.EXPORT_BUCKET]
            == lifecycle.inputs["bucket"]
        )
        assert environment["NOTES_AWS_REGION"] == plan.config.region
        # AND records expire with their objects, and the last receive the worker counts is the
        # one SQS dead-letters
        assert int(environment["NOTES_EXPORT_RETENTION_DAYS"]) == expiry, (environment, lifecycle.urn)
        assert int(environment["NOTES_EXPORT_MAX_RECEIVES"]) == redrive["maxReceiveCount"], queue.urn
        assert environment["NOTES_EXPORT_PREFIX"] == "exports/"
    # AND no second worker takes a job while the first may still work on it
    assert int(worker["NOTES_EXPORT_JOB_TIMEOUT_SECONDS"]) < queue.inputs["visibilityTimeoutSeconds"], (
        queue.urn
    )
    assert int(api["NOTES_EXPORT_MAX_IN_FLIGHT"]) == plan.config.exports.max_in_flight_per_user


def _task_policy_actions(plan: Plan, service: str) -> set[str]:
    (policy,) = [
        p
        for p in plan.of_type("aws:iam/rolePolicy:RolePolicy")
        if p.name == f"{plan.config.general.environment}-{service}-task-policy"
    ]
    return {
        action
        for statement in json.loads(policy.inputs["policy"])["Statement"]
        for action in ([statement["Action"]] if isinstance(statement["Action"], str) else statement["Action"])
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_api_sends_and_reads_exports_and_only_the_worker_consumes_and_writes(
    plans: dict[str, Plan], stack: str
) -> None:
    api, worker = _task_policy_actions(plans[stack], "api"), _task_policy_actions(plans[stack], "worker")
    # (and both read their secrets by ARN)
    assert api == {
        "sqs:SendMessage",
        "s3:GetObject",
        "kms:Decrypt",
        "kms:GenerateDataKey",
        "secretsmanager:GetSecretValue",
    }
    assert worker == {
        "secretsmanager:GetSecretValue",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:ChangeMessageVisibility",
        "s3:PutObject",
        "s3:AbortMultipartUpload",
        "kms:Decrypt",
        "kms:GenerateDataKey",
    }


@pytest.mark.parametrize("stack", STACKS)
def test_deployments_roll_back_on_failure(plans: dict[str, Plan], stack: str) -> None:
    services = plans[stack].of_type("aws:ecs/service:Service")
    assert len(services) == 2, [s.urn for s in services]  # the API and the export worker
    for service in services:
        assert service.inputs["deploymentCircuitBreaker"] == {"enable": True, "rollback": True}, service.urn


def test_prod_is_highly_available_and_protected_and_staging_is_cheaper(plans: dict[str, Plan]) -> None:
    staging, prod = plans["staging"], plans["prod"]
    nat = {name: len(p.of_type("aws:ec2/natGateway:NatGateway")) for name, p in plans.items()}
    assert nat == {"staging": 1, "prod": 3}
    docdb = {name: len(p.of_type("aws:docdb/clusterInstance:ClusterInstance")) for name, p in plans.items()}
    assert docdb == {"staging": 1, "prod": 3}
    (prod_cluster,) = prod.of_type("aws:docdb/cluster:Cluster")
    (staging_cluster,) = staging.of_type("aws:docdb/cluster:Cluster")
    assert prod_cluster.protect and prod_cluster.inputs["deletionProtection"] is True, prod_cluster.urn
    assert not staging_cluster.protect, staging_cluster.urn
    assert prod_cluster.inputs.get("skipFinalSnapshot") in (None, False), prod_cluster.urn
    (prod_cache,) = prod.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    (staging_cache,) = staging.of_type("aws:elasticache/replicationGroup:ReplicationGroup")
    assert (
        prod_cache.protect
        and prod_cache.inputs["multiAzEnabled"]
        and prod_cache.inputs["automaticFailoverEnabled"]
    )
    assert staging_cache.inputs["numCacheClusters"] == 1 and not staging_cache.protect
    (prod_alb,) = prod.of_type("aws:lb/loadBalancer:LoadBalancer")
    assert prod_alb.inputs["enableDeletionProtection"] is True, prod_alb.urn
    strategies = {
        (name, service): {
            s["capacityProvider"]: s.get("weight", 0)
            for s in _service(p, service).inputs["capacityProviderStrategies"]
        }
        for name, p in plans.items()
        for service in ("api", "worker")
    }
    assert strategies["staging", "api"]["FARGATE_SPOT"] > strategies["staging", "api"]["FARGATE"]
    assert strategies["prod", "api"].get("FARGATE_SPOT", 0) == 0
    # The worker's jobs are retried: staging runs it mostly on Spot
    assert strategies["staging", "worker"]["FARGATE_SPOT"] > strategies["staging", "worker"]["FARGATE"]


def test_prod_deploys_the_promoted_digest_and_builds_nothing(plans: dict[str, Plan]) -> None:
    builds = {
        name: [r for r in p.resources if r.type.startswith("docker-build:")] for name, p in plans.items()
    }
    assert len(builds["staging"]) == 1 and builds["prod"] == [], builds
    digest = plans["prod"].config.image.digest
    assert plans["prod"].outputs[out.IMAGE_DIGEST] == digest
    assert plans["prod"].outputs[out.IMAGE_REF].endswith(f"@{digest}")
    assert _container(plans["prod"])["image"].endswith(f"@{digest}")
    assert _container(plans["prod"], "worker")["image"].endswith(f"@{digest}")
    assert "@sha256:" in _container(plans["staging"])["image"]


@pytest.mark.parametrize("stack", STACKS)
def test_outputs_name_secrets_by_arn_never_by_value(plans: dict[str, Plan], stack: str) -> None:
    outputs = plans[stack].outputs
    expected = {v for k, v in vars(out).items() if k.isupper()}
    assert set(outputs) == expected, set(outputs) ^ expected
    for name in (
        out.JWT_SECRET_ARN,
        out.DOCDB_APP_SECRET_ARN,
        out.DOCDB_MASTER_SECRET_ARN,
        out.REDIS_AUTH_SECRET_ARN,
    ):
        assert str(outputs[name]).startswith("arn:aws:secretsmanager:"), (name, outputs[name])
    assert "[secret]" not in json.dumps(outputs)


@pytest.mark.parametrize("stack", STACKS)
def test_every_resource_is_inside_a_component(plans: dict[str, Plan], stack: str) -> None:
    plan = plans[stack]
    components = {r.urn for r in plan.resources if not r.custom}
    loose = [r.urn for r in _aws(plan) if r.parent not in components]
    assert not loose, f"resources registered outside any component: {loose}"


@pytest.mark.parametrize("stack", STACKS)
def test_a_recorded_resource_reads_back_from_the_plan_json(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN every resource of the plan, as `notes-platform plan --json` writes it
    for resource in plans[stack].resources:
        # WHEN it is read back THEN it is the same record, but for the per-property
        # dependencies the JSON leaves out
        back = Recorded.from_json(json.loads(json.dumps(resource.to_json())))
        assert back == dataclasses.replace(resource, property_dependencies={}), resource.urn


@pytest.mark.parametrize("stack", STACKS)
def test_the_worker_scales_on_the_backlog_of_the_stacks_queue(plans: dict[str, Plan], stack: str) -> None:
    plan, env = plans[stack], plans[stack].config.general.environment
    worker = plan.config.worker
    (policy,) = [p for p in plan.of_type(SCALING_POLICY) if p.inputs["name"] == f"notes-{env}-worker-backlog"]
    (target,) = [t for t in plan.of_type(SCALING_TARGET) if t.inputs["resourceId"].endswith("-worker")]
    config = policy.inputs["targetTrackingScalingPolicyConfiguration"]
    queries = {q["id"]: q for q in config["customizedMetricSpecification"]["metrics"]}
    dimensions = {
        query: {d["name"]: d["value"] for d in queries[query]["metricStat"]["metric"]["dimensions"]}
        for query in ("m1", "m2")
    }
    # THEN the backlog is the stack's own queue over the worker service's running tasks
    assert dimensions == {
        "m1": {"QueueName": f"notes-{env}-exports"},
        "m2": {"ClusterName": f"notes-{env}", "ServiceName": f"notes-{env}-worker"},
    }, policy.urn
    assert config["targetValue"] == worker.backlog_per_task, policy.urn
    assert (target.inputs["minCapacity"], target.inputs["maxCapacity"]) == (
        worker.min_count,
        worker.max_count,
    )
    assert target.inputs["minCapacity"] >= 1, target.urn


@pytest.mark.parametrize("stack", STACKS)
def test_the_queues_and_the_worker_are_alarmed(plans: dict[str, Plan], stack: str) -> None:
    env = plans[stack].config.general.environment
    names = {a.inputs["name"] for a in plans[stack].of_type(METRIC_ALARM)}
    assert {
        f"notes-{env}-exports-oldest-message",
        f"notes-{env}-exports-dlq-not-empty",
        f"notes-{env}-worker-running-tasks",
    } <= names, sorted(names)


@pytest.mark.parametrize("stack", STACKS)
def test_the_dashboard_charts_the_stacks_queues_and_worker(plans: dict[str, Plan], stack: str) -> None:
    env = plans[stack].config.general.environment
    (dashboard,) = plans[stack].of_type("aws:cloudwatch/dashboard:Dashboard")
    widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
    # GIVEN the widgets that chart SQS WHEN their queues are read
    queues = {
        line[line.index("QueueName") + 1]
        for widget in widgets
        for line in widget["properties"].get("metrics", [])
        if line[0] == "AWS/SQS"
    }
    # THEN they are this stack's exports queue and its dead-letter queue
    assert queues == {f"notes-{env}-exports", f"notes-{env}-exports-dlq"}, dashboard.urn
    # AND the worker's rows name its ECS service, the oldest-message chart the alarm's threshold
    titles = {w["properties"]["title"]: w["properties"] for w in widgets if w["type"] == "metric"}
    assert f'"notes-{env}-worker"' in json.dumps(titles["Worker: tasks running, desired and pending"])
    (alarm,) = [
        a
        for a in plans[stack].of_type(METRIC_ALARM)
        if a.inputs["name"] == f"notes-{env}-exports-oldest-message"
    ]
    age = titles["Exports: oldest request waiting, seconds"]["annotations"]["horizontal"][0]["value"]
    assert age == alarm.inputs["threshold"], alarm.urn

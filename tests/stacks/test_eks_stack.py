"""The EKS stack (Pulumi.staging-eks.yaml, ``compute: eks``) planned whole: the cluster is private,
encrypted and logged, nothing gets a public IP, the API's pod role reads exactly its three secrets,
the chart's release joins the stack's own target group with the image the stack built, its alarms
watch Container Insights metrics AWS publishes, and the edge is staging's ECS edge, name for name.

Each property is one check function over a plan; each check is proven twice: clean on the
planned stack, and failing by name on a copy of it with one mistake planted."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any

import pytest

from infra.observability.metrics_catalog import EKS_CONTAINER_INSIGHTS, published
from notes_platform.checks import ordering, provider_rules, replacement
from notes_platform.checks.apimodels import check as api_model_check
from notes_platform.checks.policy_pack import evaluate
from notes_platform.graph.mocks import RecordedGraph
from notes_platform.graph.plan import Plan
from stacks import outputs as out
from stacks.compute import API_CHART_PATH, API_RELEASE, api_chart_values, check_eks_config
from stacks.config import ROOT, StackConfigError, load_stack

STACK = "staging-eks"
CLUSTER = "aws:eks/cluster:Cluster"
RELEASE = "kubernetes:helm.sh/v3:Release"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
EDGE_COMPONENTS = ("notes:infra:Edge", "notes:infra:LoadBalancer", "notes:infra:DeploymentAlarms")
Check = Callable[[RecordedGraph, dict[str, Any]], list[str]]


# --- the checks ------------------------------------------------------------------------------


def private_encrypted_logged_cluster(graph: RecordedGraph, outputs: dict[str, Any]) -> list[str]:
    problems = []
    clusters = graph.of_type(CLUSTER)
    if len(clusters) != 1:
        return [f"expected one EKS cluster, found {[c.urn for c in clusters]}"]
    c = clusters[0].inputs
    vpc = c.get("vpcConfig", {})
    if vpc.get("endpointPublicAccess") is not False or vpc.get("endpointPrivateAccess") is not True:
        problems.append(f"{clusters[0].urn}: the API endpoint must be private only, got {vpc}")
    encryption = c.get("encryptionConfig", {})
    if encryption.get("resources") != ["secrets"] or "keyArn" not in encryption.get("provider", {}):
        problems.append(f"{clusters[0].urn}: Kubernetes secrets must be envelope-encrypted with our key")
    logs = {"api", "audit", "authenticator", "controllerManager", "scheduler"}
    if set(c.get("enabledClusterLogTypes", ())) != logs:
        problems.append(f"{clusters[0].urn}: every control-plane log type must be on ({sorted(logs)})")
    if c.get("accessConfig", {}).get("authenticationMode") != "API":
        problems.append(f"{clusters[0].urn}: access entries (authentication mode API), not aws-auth")
    name = c.get("name")
    groups = [
        g
        for g in graph.of_type("aws:cloudwatch/logGroup:LogGroup")
        if g.inputs["name"] == f"/aws/eks/{name}/cluster"
    ]
    if not groups or "kmsKeyId" not in groups[0].inputs or not groups[0].inputs.get("retentionInDays"):
        problems.append(
            f"/aws/eks/{name}/cluster: the control-plane log group must exist, encrypted, with retention"
        )
    return problems


def no_public_ips(graph: RecordedGraph, outputs: dict[str, Any]) -> list[str]:
    problems = []
    public_subnets = {
        r.inputs.get("cidrBlock")
        for r in graph.of_type("aws:ec2/subnet:Subnet")
        if r.inputs.get("mapPublicIpOnLaunch") is True
    }
    private_subnet_ids = {
        sid for g in graph.of_type(CLUSTER) for sid in g.inputs.get("vpcConfig", {}).get("subnetIds", [])
    }
    for group in graph.of_type("aws:eks/nodeGroup:NodeGroup"):
        if not set(group.inputs.get("subnetIds", [])) <= private_subnet_ids:
            problems.append(f"{group.urn}: nodes must sit in the cluster's private subnets")
    for template in graph.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        for interface in template.inputs.get("networkInterfaces", []):
            if str(interface.get("associatePublicIpAddress")).lower() == "true":
                problems.append(f"{template.urn}: nodes must not get a public IP")
    if public_subnets:
        problems.append(f"subnets {sorted(public_subnets)} hand out public IPs on launch")
    return problems


def pod_role_reads_its_three_secrets(graph: RecordedGraph, outputs: dict[str, Any]) -> list[str]:
    expected = sorted(
        outputs[k] for k in (out.DOCDB_APP_SECRET_ARN, out.REDIS_AUTH_SECRET_ARN, out.JWT_SECRET_ARN)
    )
    # The role's secrets policy; its second policy holds the export sender's statements.
    policies = [p for p in graph.of_type(ROLE_POLICY) if p.name.endswith("api-pod-identity-secrets")]
    if len(policies) != 1:
        return [f"expected one secrets policy on the API's pod role, found {[p.urn for p in policies]}"]
    document = json.loads(policies[0].inputs["policy"])
    problems = []
    for statement in document["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        if "*" in resources or any(a.endswith("*") for a in actions):
            problems.append(f"{policies[0].urn}: no wildcard actions or resources ({statement})")
        if "secretsmanager:GetSecretValue" in actions and sorted(resources) != expected:
            problems.append(
                f"{policies[0].urn}: GetSecretValue on {sorted(resources)}, not exactly {expected}"
            )
        if "kms:Decrypt" in actions and "kms:ViaService" not in json.dumps(statement.get("Condition", {})):
            problems.append(f"{policies[0].urn}: kms:Decrypt only through Secrets Manager (kms:ViaService)")
    return problems


def release_points_at_the_stack(graph: RecordedGraph, outputs: dict[str, Any]) -> list[str]:
    releases = [r for r in graph.of_type(RELEASE) if r.inputs.get("chart") == API_CHART_PATH]
    if len(releases) != 1:
        return [f"expected one release of {API_CHART_PATH}, found {[r.urn for r in releases]}"]
    release = releases[0]
    values = release.inputs["values"]
    forwarded = {
        action["targetGroupArn"]
        for rule in graph.of_type("aws:lb/listenerRule:ListenerRule")
        for action in rule.inputs.get("actions", [])
        if action.get("type") == "forward"
    }
    problems = []
    if len(forwarded) != 1 or values["targetGroupBinding"]["targetGroupArn"] not in forwarded:
        bound = values["targetGroupBinding"]["targetGroupArn"]
        problems.append(
            f"{release.urn}: targetGroupBinding.targetGroupArn {bound} is not the ALB's target group "
            f"{sorted(forwarded)}"
        )
    image = f"{values['image']['repository']}@{values['image']['digest']}"
    if image != outputs[out.IMAGE_REF]:
        problems.append(f"{release.urn}: image {image} is not the stack's image {outputs[out.IMAGE_REF]}")
    config = values["config"]
    arns = {
        "mongodbUriSecretArn": outputs[out.DOCDB_APP_SECRET_ARN],
        "redisAuthTokenSecretArn": outputs[out.REDIS_AUTH_SECRET_ARN],
        "jwtSigningKeySecretArn": outputs[out.JWT_SECRET_ARN],
    }
    problems += [
        f"{release.urn}: config.{key} is {config.get(key)}, not the stack's secret {arn}"
        for key, arn in arns.items()
        if config.get(key) != arn
    ]
    if release.inputs.get("name") != API_RELEASE or not release.inputs.get("atomic"):
        problems.append(f"{release.urn}: release {API_RELEASE}, atomic (a failed upgrade rolls back)")
    return problems


def eks_alarms_watch_published_metrics(graph: RecordedGraph, outputs: dict[str, Any]) -> list[str]:
    problems = []
    alarms = graph.of_type(METRIC_ALARM)
    eks = [a for a in alarms if a.inputs.get("namespace") == EKS_CONTAINER_INSIGHTS]
    roles = {a.name.rsplit("-service-alarms-", 1)[-1] for a in eks}
    if roles != {"api-running-pods", "api-restarts", "api-cpu", "api-memory"}:
        problems.append(f"EKS service alarms: found {sorted(roles)}")
    for alarm in eks:
        dimensions = alarm.inputs.get("dimensions", {})
        if not published(EKS_CONTAINER_INSIGHTS, alarm.inputs["metricName"], frozenset(dimensions)):
            problems.append(
                f"{alarm.urn}: {alarm.inputs['metricName']} {sorted(dimensions)} is not published"
            )
        if dimensions.get("ClusterName") != outputs[out.CLUSTER_NAME]:
            problems.append(
                f"{alarm.urn}: ClusterName {dimensions.get('ClusterName')} is not the stack's cluster"
            )
    ecs = [a.urn for a in alarms if a.inputs.get("namespace") in ("AWS/ECS", "ECS/ContainerInsights")]
    if ecs:
        problems.append(f"ECS alarms on an EKS stack watch nothing: {ecs}")
    return problems


def eks_outputs(graph: RecordedGraph, outputs: dict[str, Any]) -> list[str]:
    problems = []
    problems += [
        f"{key} output missing" for key in (out.CLUSTER_NAME, out.DASHBOARD_URL) if not outputs.get(key)
    ]
    problems += [
        f"{key}: an ECS output on an EKS stack"
        for key in (out.SERVICE_NAME, out.APP_LOG_GROUP)
        if key in outputs
    ]
    return problems


CHECKS: list[Check] = [
    private_encrypted_logged_cluster,
    no_public_ips,
    pod_role_reads_its_three_secrets,
    release_points_at_the_stack,
    eks_alarms_watch_published_metrics,
    eks_outputs,
]


def _planted(
    plan: Plan, type_token: str, mutate: Callable[[dict[str, Any]], None], name: str = ""
) -> RecordedGraph:
    graph = RecordedGraph(copy.deepcopy(plan.resources))
    targets = [r for r in graph.of_type(type_token) if name in r.name]
    assert targets, f"no {type_token} *{name}* to plant a mistake in"
    mutate(targets[0].inputs)
    return graph


def _public_endpoint(i: dict[str, Any]) -> None:
    i["vpcConfig"]["endpointPublicAccess"] = True


def _public_ip(i: dict[str, Any]) -> None:
    i["networkInterfaces"] = [{"associatePublicIpAddress": "true"}]


def _fourth_secret(i: dict[str, Any]) -> None:
    document = json.loads(i["policy"])
    document["Statement"][0]["Resource"].append("arn:aws:secretsmanager:eu-west-1:123456789012:secret:other")
    i["policy"] = json.dumps(document)


def _other_target_group(i: dict[str, Any]) -> None:
    i["values"]["targetGroupBinding"]["targetGroupArn"] = (
        "arn:aws:lb:eu-west-1:123456789012:targetgroup/other"
    )


def _unpublished_dimension(i: dict[str, Any]) -> None:
    i["dimensions"] = {**i["dimensions"], "Deployment": "notes-api"}


PLANTED: list[tuple[Check, str, str, Callable[[dict[str, Any]], None], str]] = [
    (private_encrypted_logged_cluster, CLUSTER, "", _public_endpoint, "must be private only"),
    (
        private_encrypted_logged_cluster,
        CLUSTER,
        "",
        lambda i: i.pop("encryptionConfig"),
        "envelope-encrypted",
    ),
    (
        private_encrypted_logged_cluster,
        CLUSTER,
        "",
        lambda i: i["enabledClusterLogTypes"].remove("audit"),
        "log type",
    ),
    (no_public_ips, "aws:ec2/launchTemplate:LaunchTemplate", "", _public_ip, "must not get a public IP"),
    (
        pod_role_reads_its_three_secrets,
        ROLE_POLICY,
        "api-pod-identity-secrets",
        _fourth_secret,
        "not exactly",
    ),
    (
        release_points_at_the_stack,
        RELEASE,
        "api-release",
        _other_target_group,
        "is not the ALB's target group",
    ),
    (
        release_points_at_the_stack,
        RELEASE,
        "api-release",
        lambda i: i["values"]["image"].update(digest="sha256:" + "0" * 64),
        "is not the stack's image",
    ),
    (eks_alarms_watch_published_metrics, METRIC_ALARM, "api-cpu", _unpublished_dimension, "is not published"),
]


@pytest.mark.parametrize("check", CHECKS, ids=lambda c: c.__name__)
def test_the_eks_stack_passes_each_check(eks_plan: Plan, check: Check) -> None:
    # GIVEN the staging-eks plan WHEN the check judges it THEN it finds nothing
    assert check(eks_plan, eks_plan.outputs) == []


@pytest.mark.parametrize(
    ("check", "type_token", "name", "mutate", "message"),
    PLANTED,
    ids=[f"{c.__name__}-{m}" for c, _, _, _, m in PLANTED],
)
def test_each_check_catches_its_planted_mistake(
    eks_plan: Plan,
    check: Check,
    type_token: str,
    name: str,
    mutate: Callable[[dict[str, Any]], None],
    message: str,
) -> None:
    # GIVEN the plan with one mistake planted
    graph = _planted(eks_plan, type_token, mutate, name)
    # WHEN the check judges it THEN it names the mistake
    problems = check(graph, eks_plan.outputs)
    assert any(message in p for p in problems), problems


def test_ecs_outputs_on_an_eks_stack_are_caught(eks_plan: Plan) -> None:
    # GIVEN outputs with an ECS service name planted WHEN checked THEN it is named
    assert eks_outputs(eks_plan, {**eks_plan.outputs, out.SERVICE_NAME: "svc"}) == [
        f"{out.SERVICE_NAME}: an ECS output on an EKS stack"
    ]
    # and a stack without its dashboard is named too
    without = {k: v for k, v in eks_plan.outputs.items() if k != out.DASHBOARD_URL}
    assert eks_outputs(eks_plan, without) == [f"{out.DASHBOARD_URL} output missing"]


def test_the_dashboard_charts_the_pods_not_an_ecs_service(eks_plan: Plan) -> None:
    # GIVEN the stack's dashboard WHEN its metrics are read
    (dashboard,) = eks_plan.of_type("aws:cloudwatch/dashboard:Dashboard")
    body = json.dumps(dashboard.inputs["dashboardBody"])
    # THEN the pods' Container Insights metrics of the stack's cluster, and no ECS metric
    assert "pod_cpu_utilization" in body and eks_plan.outputs[out.CLUSTER_NAME] in body
    assert "AWS/ECS" not in body and "ECS/ContainerInsights" not in body


# --- the edge is staging's ECS edge ----------------------------------------------------------


def edge_signature(plan: Plan) -> list[tuple[str, str, str]]:
    """The edge (CloudFront, WAF, origin lock, ALB and its deployment alarms) as (type, name,
    inputs), with the stack's own names and the mocks' per-name id suffixes taken out."""
    env = plan.config.general.environment
    zone_id = plan.config.dns.zone_id
    roots = [r.urn for r in plan.resources if r.type in EDGE_COMPONENTS]
    resources = [r for root in roots for r in plan.below(root)]

    def neutral(text: str) -> str:
        text = text.replace(zone_id, "<zone>").replace(env, "<env>")
        # Mocked ids, key ids and ARNs end in a hash of the resource's name, which holds the env's.
        text = re.sub(r"[0-9a-fA-F]{8}(-[0-9a-fA-F]{4}){3}-[0-9a-fA-F]{12}", "<id>", text)
        return re.sub(r"[0-9a-fA-F]{6,}", "<id>", text)

    return sorted((r.type, neutral(r.name), neutral(json.dumps(r.inputs, sort_keys=True))) for r in resources)


def edge_differences(ecs: Plan, eks: Plan) -> list[str]:
    a, b = edge_signature(ecs), edge_signature(eks)
    only_ecs = [f"only on ECS: {t} {n}: {i[:200]}" for t, n, i in sorted(set(a) - set(b))]
    only_eks = [f"only on EKS: {t} {n}: {i[:200]}" for t, n, i in sorted(set(b) - set(a))]
    return only_ecs + only_eks


def test_the_edge_is_staging_ecs_edge_modulo_names(plans: dict[str, Plan], eks_plan: Plan) -> None:
    # GIVEN staging (ECS) and staging-eks, planned WHEN their edges are compared without names
    differences = edge_differences(plans["staging"], eks_plan)
    # THEN CloudFront, WAF, the origin lock, the ALB and its alarms are the same resources
    assert edge_signature(eks_plan), "no edge resources found"
    assert differences == []


def test_an_edge_difference_is_named(plans: dict[str, Plan], eks_plan: Plan) -> None:
    # GIVEN staging-eks with the ALB's idle timeout changed
    planted = copy.deepcopy(eks_plan)
    lb = next(r for r in planted.resources if r.type == "aws:lb/loadBalancer:LoadBalancer")
    lb.inputs["idleTimeout"] = 5
    # WHEN the edges are compared THEN the load balancer shows on both sides
    differences = edge_differences(plans["staging"], planted)
    assert len(differences) == 2 and all("aws:lb/loadBalancer:LoadBalancer" in d for d in differences)


# --- the plan's own checks, the snapshot, the schema ------------------------------------------


def test_the_policy_pack_and_the_plan_checks_are_clean(eks_plan: Plan) -> None:
    # GIVEN the staging-eks plan WHEN the pack (with its committed settings) and the checks run
    violations = evaluate(eks_plan.resources, STACK)
    findings = api_model_check(eks_plan.resources)
    rules = [*ordering.check(eks_plan.resources), *provider_rules.check(eks_plan.resources)]
    rules += replacement.check(eks_plan.resources)
    # THEN nothing, advisory or mandatory
    assert (violations, findings, rules) == ([], [], [])
    assert (ROOT / "policies" / "config" / f"{STACK}.json").is_file()


def test_plan_matches_the_committed_snapshot(eks_plan: Plan) -> None:
    # GIVEN the committed staging-eks graph WHEN planned again THEN nothing drifted
    path = ROOT / "tests" / "snapshots" / f"{STACK}.json"
    assert path.is_file(), f"{path.name} is missing: run `make snapshots`"
    assert eks_plan.to_json() == path.read_text(), f"the {STACK} plan drifted: run `make snapshots`"


def test_chart_values_follow_the_stack_file() -> None:
    # GIVEN staging-eks's config WHEN the chart's values are built from it
    config = load_stack(STACK)
    values = api_chart_values(
        config,
        repository="r",
        digest="sha256:" + "a" * 64,
        target_group_arn="tg",
        deregistration_delay_seconds=30,
        redis_url="rediss://x:6379/0",
        secret_arns={"NOTES_MONGODB_URI": "m", "NOTES_REDIS_AUTH_TOKEN": "r", "NOTES_JWT_SIGNING_KEY": "j"},
    )
    # THEN Fargate-style units become Kubernetes quantities and the counts the autoscaler's
    assert values["resources"]["requests"] == {"cpu": "250m", "memory": "512Mi"}
    assert (values["autoscaling"]["minReplicas"], values["autoscaling"]["maxReplicas"]) == (2, 4)
    assert values["networkPolicy"]["ingressCidrs"] == ["10.30.0.0/16"]


def test_a_minimum_the_chart_would_refuse_names_the_key() -> None:
    # GIVEN staging-eks with one pod as the autoscaler's minimum (the PDB keeps one)
    config = load_stack(STACK)
    planted = config.model_copy(update={"service": config.service.model_copy(update={"min_count": 1})})
    # WHEN the EKS path checks it THEN the error names the file and the key
    with pytest.raises(
        StackConfigError, match=r"Pulumi\.staging-eks\.yaml: notes-platform:serviceMinCount: 1"
    ):
        check_eks_config(planted, STACK)
    check_eks_config(config, STACK)


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ({"notes-platform:compute": "k8s"}, "notes-platform:compute"),
        ({"notes-platform:eksPublicAccessCidrs": ["0.0.0.0/0"]}, "opens the API endpoint to the internet"),
        ({"notes-platform:eksNodeDesiredSize": 9}, "eksNodeDesiredSize: 9 must lie between"),
        ({"notes-platform:eksKubernetesVersion": "latest"}, "notes-platform:eksKubernetesVersion"),
    ],
)
def test_bad_eks_keys_are_refused_by_name(override: dict[str, Any], message: str) -> None:
    # GIVEN staging-eks's stack file with one bad EKS value
    from stacks.config import load, read_stack_file  # noqa: PLC0415

    values = {**read_stack_file(STACK), **override}
    # WHEN it is loaded THEN the error names the file and the key
    with pytest.raises(StackConfigError, match=re.escape(message)) as caught:
        load(values, STACK)
    assert "Pulumi.staging-eks.yaml" in str(caught.value)


def test_the_api_namespace_injects_the_load_balancer_pod_readiness_gate(eks_plan: Plan) -> None:
    # GIVEN the staging-eks plan
    [namespace] = eks_plan.of_type("kubernetes:core/v1:Namespace")
    [release] = [r for r in eks_plan.of_type(RELEASE) if r.inputs.get("name") == API_RELEASE]
    # THEN the API's namespace carries the controller's readiness-gate label (a pod is ready only
    # once its target is healthy, so a rolling update never drains old pods first) ...
    labels = namespace.inputs["metadata"]["labels"]
    assert labels == {"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}, namespace.urn
    # ... and exists before the release creates the pods in it, the release not creating it itself
    assert namespace.urn in release.dependencies, release.urn
    assert not release.inputs.get("createNamespace"), release.urn
    assert release.inputs["namespace"] == namespace.inputs["metadata"]["name"], release.urn


def test_the_pods_wait_out_the_target_groups_own_deregistration_delay(eks_plan: Plan) -> None:
    # GIVEN the planned target group and the API's release
    [group] = eks_plan.of_type("aws:lb/targetGroup:TargetGroup")
    [release] = [r for r in eks_plan.of_type(RELEASE) if r.inputs.get("name") == API_RELEASE]
    # THEN the chart's preStop delay is the group's delay, read from it, not a copy of a default
    assert (
        release.inputs["values"]["shutdown"]["deregistrationDelaySeconds"]
        == group.inputs["deregistrationDelay"]
    )

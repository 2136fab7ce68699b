"""The chart renders for staging and prod, lints strict, and every manifest is valid Kubernetes.

GIVEN each committed values file, WHEN the chart is rendered with helm-python-sdk (as `helm template`),
THEN Helm's strict lint is clean, kubernetes-validate (strict) accepts every built-in kind at the
pinned cluster version, the TargetGroupBinding matches the controller's CRD, and the Deployment
carries the hardening and shutdown timing the chart promises.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import helm_python
import jsonschema
import kubernetes_validate
import pytest

from infra.alb import LoadBalancerArgs
from tests.charts.chart import API, CHART, KUBE_VERSION, VALUES_FILES, by_kind, manifests, one, values

TGB_SCHEMA = json.loads((Path(__file__).parent / "targetgroupbinding.v1beta1.schema.json").read_text())
# Helm's support.Severity: 1 info, 2 warning, 3 error. Strict lint turns warnings into failures.
LINT_WARNING = 2
DIGEST = "sha256:" + "0" * 64
# CRDs have no schema in kubernetes-validate's bundle; they are checked against the CRD itself.
CRD_KINDS = {"TargetGroupBinding"}


def _name(obj: dict[str, Any]) -> str:
    return f"{obj['kind']}/{obj['metadata']['name']}"


@pytest.fixture(scope="module", params=VALUES_FILES)
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    name: str = request.param
    file_values = values(name)
    return name, file_values, manifests(file_values)


def test_lint_strict_is_clean_for_each_values_file() -> None:
    for name in VALUES_FILES:
        result = helm_python.lint(str(CHART), values(name), strict=True, kube_version=KUBE_VERSION)
        problems = [m for m in result["messages"] if m["severity"] >= LINT_WARNING] + result["errors"]
        assert not problems, f"helm lint --strict with {name}: {problems}"


def test_every_builtin_manifest_is_valid_kubernetes(rendered: Any) -> None:
    name, _, objects = rendered
    kinds = {o["kind"] for o in objects}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "PodDisruptionBudget",
        "ServiceAccount",
        "NetworkPolicy",
        "TargetGroupBinding",
        "Pod",
        "ConfigMap",
    } <= kinds, f"{name}: rendered {kinds}"
    for obj in objects:
        if obj["kind"] in CRD_KINDS:
            continue
        try:
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            pytest.fail(f"{name}: {_name(obj)} is not valid Kubernetes {KUBE_VERSION}: {exc.message}")


def test_a_planted_unknown_field_fails_kubernetes_validate(rendered: Any) -> None:
    # GIVEN the rendered Deployment with a misspelt container field (a typo Kubernetes would drop)
    _, _, objects = rendered
    deployment = one(objects, "Deployment", API)
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {}
    # WHEN validated strictly THEN it is refused
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, KUBE_VERSION, strict=True)


def test_target_group_binding_matches_the_controllers_crd(rendered: Any) -> None:
    name, file_values, objects = rendered
    (binding,) = by_kind(objects, "TargetGroupBinding")
    jsonschema.validate(binding, TGB_SCHEMA)
    (service,) = by_kind(objects, "Service")
    assert binding["spec"]["targetType"] == "ip", name
    assert binding["spec"]["targetGroupARN"] == file_values["targetGroupBinding"]["targetGroupArn"], name
    assert binding["spec"]["serviceRef"] == {"name": service["metadata"]["name"], "port": 80}, name
    # Planted: the spec field misspelt the way the Ingress annotation spells it.
    planted = {**binding, "spec": {**binding["spec"], "targetGroupArn": "x"}}
    with pytest.raises(jsonschema.ValidationError, match="targetGroupArn"):
        jsonschema.validate(planted, TGB_SCHEMA)


def _pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment", API)["spec"]["template"]["spec"]
    return spec


def test_the_pod_is_hardened(rendered: Any) -> None:
    name, _, objects = rendered
    pod = _pod_spec(objects)
    (container,) = pod["containers"]
    assert container["image"].endswith("@" + DIGEST) and ":latest" not in container["image"], name
    assert pod["automountServiceAccountToken"] is False, name
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] == 10001
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    context = container["securityContext"]
    assert context["readOnlyRootFilesystem"] is True, name
    assert context["allowPrivilegeEscalation"] is False, name
    assert context["capabilities"] == {"drop": ["ALL"]}, name
    assert {"name": "tmp", "mountPath": "/tmp"} in container["volumeMounts"], name
    assert {"requests", "limits"} <= set(container["resources"]), name
    assert container["startupProbe"]["httpGet"]["path"] == "/health", name
    assert container["livenessProbe"]["httpGet"]["path"] == "/health", name
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready", name
    zones = {c["topologyKey"] for c in pod["topologySpreadConstraints"]}
    assert zones == {"topology.kubernetes.io/zone", "kubernetes.io/hostname"}, name
    env = {e["name"]: e.get("value") for e in container["env"]}
    for arn in ("MONGODB_URI", "REDIS_AUTH_TOKEN", "JWT_SIGNING_KEY"):
        assert env[f"NOTES_{arn}_SECRET_ARN"].startswith("arn:aws:secretsmanager:"), name
        assert f"NOTES_{arn}" not in env, f"{name}: a secret value in the pod spec"
    assert env["NOTES_PORT"] == str(container["ports"][0]["containerPort"]), name


def test_termination_grace_covers_prestop_drain_and_grace(rendered: Any) -> None:
    name, file_values, objects = rendered
    pod = _pod_spec(objects)
    (container,) = pod["containers"]
    shutdown = {"deregistrationDelaySeconds": 30, "drainSeconds": 5, "graceSeconds": 20, "marginSeconds": 5}
    shutdown |= file_values.get("shutdown", {})
    pre_stop = container["lifecycle"]["preStop"]["sleep"]["seconds"]
    assert pre_stop == shutdown["deregistrationDelaySeconds"] == 30, f"{name}: preStop != the ALB's delay"
    env = {e["name"]: e.get("value") for e in container["env"]}
    needed = pre_stop + int(env["NOTES_SHUTDOWN_DRAIN_SECONDS"]) + int(env["NOTES_SHUTDOWN_GRACE_SECONDS"])
    assert pod["terminationGracePeriodSeconds"] > needed, name


def test_the_prestop_default_is_the_stacks_deregistration_delay() -> None:
    # The chart's default and the ALB's target group must move together (infra/alb.py).
    default = LoadBalancerArgs.__dataclass_fields__["deregistration_delay_seconds"].default
    chart_default = values("values.yaml")["shutdown"]["deregistrationDelaySeconds"]
    assert chart_default == default, (
        f"values.yaml shutdown.deregistrationDelaySeconds {chart_default} != {default}"
    )


def test_network_policy_allows_only_the_documented_paths(rendered: Any) -> None:
    name, file_values, objects = rendered
    spec = one(objects, "NetworkPolicy", API)["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"], name
    ingress_ports = {p["port"] for rule in spec["ingress"] for p in rule["ports"]}
    assert ingress_ports == {8000}, f"{name}: ingress on {ingress_ports}"
    cidrs = [peer["ipBlock"]["cidr"] for peer in spec["ingress"][0]["from"]]
    assert cidrs == file_values["networkPolicy"]["ingressCidrs"], name
    egress = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (27017, "TCP"), (6379, "TCP"), (443, "TCP"), (80, "TCP")}, (
        name
    )
    agent = [rule for rule in spec["egress"] if {"ipBlock": {"cidr": "169.254.170.23/32"}} in rule["to"]]
    assert [p["port"] for p in agent[0]["ports"]] == [80], f"{name}: port 80 only to the Pod Identity agent"


def test_hpa_pdb_and_replicas(rendered: Any) -> None:
    name, _, objects = rendered
    hpa = one(objects, "HorizontalPodAutoscaler", API)
    pdb = one(objects, "PodDisruptionBudget", API)
    deployment = one(objects, "Deployment", API)
    assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the replica count"
    assert hpa["spec"]["metrics"][0]["resource"]["name"] == "cpu", name
    assert hpa["spec"]["minReplicas"] > pdb["spec"]["minAvailable"], name


def test_the_helm_test_hook_runs_the_shared_smoke_round_trip(rendered: Any) -> None:
    name, _, objects = rendered
    hooks = [o for o in objects if o["metadata"].get("annotations", {}).get("helm.sh/hook") == "test"]
    assert {o["kind"] for o in hooks} == {"Pod", "ConfigMap", "NetworkPolicy"}, name
    (config_map,) = by_kind(hooks, "ConfigMap")
    shared = (CHART.parents[1] / "notes_platform" / "release" / "smoke.py").read_text()
    assert config_map["data"]["smoke.py"].rstrip("\n") == shared.rstrip("\n"), (
        "charts/notes-api/files/smoke.py differs from notes_platform/release/smoke.py: copy it again"
    )
    (pod,) = by_kind(hooks, "Pod")
    script = pod["spec"]["containers"][0]["command"][-1]
    assert 'round_trip(Api("http://notes-api:80")' in script, name
    assert pod["spec"]["containers"][0]["securityContext"]["readOnlyRootFilesystem"] is True, name


def test_the_test_pod_is_not_one_of_the_apis_pods(rendered: Any) -> None:
    # The Service, the PDB and the NetworkPolicy select by these labels; the test client must not match.
    name, _, objects = rendered
    (pod,) = by_kind(objects, "Pod")
    (service,) = by_kind(objects, "Service")
    selector = service["spec"]["selector"].items()
    assert not selector <= pod["metadata"]["labels"].items(), f"{name}: the Service selects the test pod"
    policy = one(objects, "NetworkPolicy", API)
    peers = [peer for rule in policy["spec"]["ingress"] for peer in rule["from"] if "podSelector" in peer]
    assert peers[0]["podSelector"]["matchLabels"].items() <= pod["metadata"]["labels"].items(), name

"""The export worker's Deployment: on in both committed values files, off by default.

GIVEN each committed values file (worker.enabled: true), WHEN the chart is rendered, THEN the worker
runs the API's image with `python -m notes_api.worker`, hardened like the API, with its own
ServiceAccount, no port and no probe, a grace period above its shutdown grace, the export settings
the API gets too, a NetworkPolicy letting nothing in, and labels no API selector matches. GIVEN the
worker off, THEN the chart renders exactly what it rendered before the worker existed.
"""

from __future__ import annotations

import json
from typing import Any

import helm_python
import kubernetes_validate
import pytest
from pydantic.fields import FieldInfo

from notes_api.core.config import Settings
from tests.charts.chart import (
    API,
    CHART,
    KUBE_VERSION,
    VALUES_FILES,
    WORKER,
    by_kind,
    manifests,
    one,
    values,
    without_worker,
)

LINT_WARNING = 2
SHARED_EXPORT_ENV = {
    "NOTES_AWS_REGION",
    "NOTES_EXPORT_QUEUE_URL",
    "NOTES_EXPORT_BUCKET",
    "NOTES_EXPORT_PREFIX",
    "NOTES_EXPORT_RETENTION_DAYS",
    "NOTES_EXPORT_MAX_RECEIVES",
    "NOTES_EXPORT_JOB_TIMEOUT_SECONDS",
}
API_ONLY_EXPORT_ENV = {"NOTES_EXPORT_MAX_IN_FLIGHT", "NOTES_EXPORT_URL_TTL_SECONDS"}


@pytest.fixture(scope="module", params=VALUES_FILES)
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    name: str = request.param
    file_values = values(name)
    assert file_values["worker"]["enabled"] is True, f"{name} no longer turns the worker on"
    return name, file_values, manifests(file_values)


def _pod(objects: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return selector.items() <= labels.items()


def test_the_worker_runs_the_apis_image_with_the_worker_command(rendered: Any) -> None:
    name, _, objects = rendered
    (api,) = _pod(objects, API)["containers"]
    (worker,) = _pod(objects, WORKER)["containers"]
    assert worker["image"] == api["image"] and "@sha256:" in worker["image"], name
    assert worker["command"] == ["python", "-m", "notes_api.worker"], name
    assert worker["imagePullPolicy"] == "Always", name


def test_the_worker_is_hardened_like_the_api(rendered: Any) -> None:
    name, _, objects = rendered
    api_pod, worker_pod = _pod(objects, API), _pod(objects, WORKER)
    (api,) = api_pod["containers"]
    (worker,) = worker_pod["containers"]
    assert worker_pod["securityContext"] == api_pod["securityContext"], name
    assert worker_pod["securityContext"]["runAsUser"] == 10001, name
    assert worker_pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    assert worker["securityContext"] == api["securityContext"], name
    assert worker["securityContext"]["readOnlyRootFilesystem"] is True, name
    assert worker["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
    assert worker["volumeMounts"] == [{"name": "tmp", "mountPath": "/tmp"}], name
    assert worker_pod["volumes"] == api_pod["volumes"], name
    assert worker_pod["automountServiceAccountToken"] is False, name
    assert worker_pod["enableServiceLinks"] is False, name
    assert {"requests", "limits"} <= set(worker["resources"]), name


def test_the_worker_has_no_port_no_probe_and_no_service(rendered: Any) -> None:
    # The worker serves nothing: a probe on a port would fail forever, and a Service would be empty.
    name, _, objects = rendered
    (worker,) = _pod(objects, WORKER)["containers"]
    assert "ports" not in worker, name
    assert not {"startupProbe", "livenessProbe", "readinessProbe", "lifecycle"} & set(worker), name
    assert [s["metadata"]["name"] for s in by_kind(objects, "Service")] == [API], name
    assert [b["metadata"]["name"] for b in by_kind(objects, "TargetGroupBinding")] == [API], name


def test_the_grace_period_covers_the_workers_shutdown_grace(rendered: Any) -> None:
    name, file_values, objects = rendered
    pod = _pod(objects, WORKER)
    (worker,) = pod["containers"]
    grace = int(_env(worker)["NOTES_SHUTDOWN_GRACE_SECONDS"])
    assert grace == file_values["worker"].get("shutdownGraceSeconds", 60), name
    assert pod["terminationGracePeriodSeconds"] > grace, name


def test_the_worker_reads_the_mongodb_uri_secret_and_no_other(rendered: Any) -> None:
    name, file_values, objects = rendered
    (api,) = _pod(objects, API)["containers"]
    (worker,) = _pod(objects, WORKER)["containers"]
    env = _env(worker)
    assert env["NOTES_MONGODB_URI_SECRET_ARN"] == _env(api)["NOTES_MONGODB_URI_SECRET_ARN"], name
    assert env["NOTES_MONGODB_URI_SECRET_ARN"] == file_values["config"]["mongodbUriSecretArn"], name
    assert env["NOTES_MONGODB_TLS_CA_FILE"] == _env(api)["NOTES_MONGODB_TLS_CA_FILE"], name
    # No Redis, no JWT key, and no secret value in the pod spec.
    assert not [v for v in env if "REDIS" in v or "JWT" in v], f"{name}: {sorted(env)}"
    assert "NOTES_MONGODB_URI" not in env, name


def test_the_api_and_the_worker_get_the_same_export_settings(rendered: Any) -> None:
    name, file_values, objects = rendered
    (api,) = _pod(objects, API)["containers"]
    (worker,) = _pod(objects, WORKER)["containers"]
    api_env, worker_env = _env(api), _env(worker)
    shared = {k: api_env[k] for k in SHARED_EXPORT_ENV}
    assert shared == {k: worker_env[k] for k in SHARED_EXPORT_ENV}, name
    exports = file_values["exports"]
    assert shared["NOTES_EXPORT_QUEUE_URL"] == exports["queueUrl"], name
    assert shared["NOTES_EXPORT_BUCKET"] == exports["bucket"], name
    assert shared["NOTES_AWS_REGION"] == exports["region"], name
    # The chart's defaults are the service's (app/notes_api/core/config.py).
    assert shared["NOTES_EXPORT_PREFIX"] == Settings.model_fields["export_prefix"].default, name
    assert shared["NOTES_EXPORT_MAX_RECEIVES"] == str(Settings.model_fields["export_max_receives"].default)
    assert set(api_env) >= API_ONLY_EXPORT_ENV, name
    assert not API_ONLY_EXPORT_ENV & set(worker_env), name


def test_the_worker_has_its_own_service_account(rendered: Any) -> None:
    name, _, objects = rendered
    account = _pod(objects, WORKER)["serviceAccountName"]
    assert account == "notes-api-worker" != _pod(objects, API)["serviceAccountName"], name
    created = one(objects, "ServiceAccount", account)
    assert created["automountServiceAccountToken"] is False, name


def test_no_api_selector_picks_a_worker_pod_and_no_worker_selector_an_api_pod(rendered: Any) -> None:
    # The Service, the PDB, the HPA's Deployment and the NetworkPolicy select by labels (a subset match).
    name, _, objects = rendered
    worker_labels = one(objects, "Deployment", WORKER)["spec"]["template"]["metadata"]["labels"]
    api_labels = one(objects, "Deployment", API)["spec"]["template"]["metadata"]["labels"]
    api_selectors = [
        one(objects, "Service", API)["spec"]["selector"],
        one(objects, "PodDisruptionBudget", API)["spec"]["selector"]["matchLabels"],
        one(objects, "Deployment", API)["spec"]["selector"]["matchLabels"],
        one(objects, "NetworkPolicy", API)["spec"]["podSelector"]["matchLabels"],
    ]
    worker_selectors = [
        one(objects, "PodDisruptionBudget", WORKER)["spec"]["selector"]["matchLabels"],
        one(objects, "Deployment", WORKER)["spec"]["selector"]["matchLabels"],
        one(objects, "NetworkPolicy", WORKER)["spec"]["podSelector"]["matchLabels"],
    ]
    for selector in api_selectors:
        assert _selects(selector, api_labels) and not _selects(selector, worker_labels), (name, selector)
    for selector in worker_selectors:
        assert _selects(selector, worker_labels) and not _selects(selector, api_labels), (name, selector)


def test_the_worker_network_policy_lets_nothing_in(rendered: Any) -> None:
    name, file_values, objects = rendered
    spec = one(objects, "NetworkPolicy", WORKER)["spec"]
    # Ingress listed with no rule: every inbound connection is denied.
    assert spec["policyTypes"] == ["Ingress", "Egress"] and spec["ingress"] == [], name
    egress = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (27017, "TCP"), (443, "TCP"), (80, "TCP")}, (
        f"{name}: {egress}"
    )
    (mongo,) = [r for r in spec["egress"] if r["ports"] == [{"port": 27017, "protocol": "TCP"}]]
    assert [p["ipBlock"]["cidr"] for p in mongo["to"]] == file_values["networkPolicy"]["dataTierCidrs"], name
    (agent,) = [r for r in spec["egress"] if r["ports"] == [{"port": 80, "protocol": "TCP"}]]
    assert agent["to"] == [{"ipBlock": {"cidr": "169.254.170.23/32"}}], f"{name}: port 80 beyond the agent"


def test_a_drain_evicts_one_worker_at_a_time_and_is_never_blocked(rendered: Any) -> None:
    name, _, objects = rendered
    spec = one(objects, "PodDisruptionBudget", WORKER)["spec"]
    assert spec["maxUnavailable"] == 1 and "minAvailable" not in spec, name
    assert spec["unhealthyPodEvictionPolicy"] == "AlwaysAllow", name


def test_fixed_replicas_or_a_cpu_hpa_never_both(rendered: Any) -> None:
    name, file_values, objects = rendered
    deployment = one(objects, "Deployment", WORKER)
    hpas = [h for h in by_kind(objects, "HorizontalPodAutoscaler") if h["metadata"]["name"] == WORKER]
    if file_values["worker"].get("autoscaling", {}).get("enabled"):
        (hpa,) = hpas
        assert "replicas" not in deployment["spec"], f"{name}: the HPA owns the worker's replica count"
        assert hpa["spec"]["scaleTargetRef"] == {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": WORKER,
        }
        assert [m["resource"]["name"] for m in hpa["spec"]["metrics"]] == ["cpu"], name
    else:
        assert not hpas, name
        assert deployment["spec"]["replicas"] == file_values["worker"]["replicaCount"], name


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_with_the_worker_off_the_chart_renders_as_before(values_file: str) -> None:
    # GIVEN the values file with worker.enabled false, and the same file without worker/exports
    on = values(values_file)
    off = {**on, "worker": {**on["worker"], "enabled": False}}
    # WHEN both are rendered THEN the objects are the same: nothing of the worker, no export settings
    objects = manifests(off)
    assert objects == manifests(without_worker(on)), values_file
    assert not [o for o in objects if o["metadata"]["name"].endswith("-worker")], values_file
    (api,) = _pod(objects, API)["containers"]
    assert not [e for e in _env(api) if e.startswith("NOTES_EXPORT_") or e == "NOTES_AWS_REGION"], values_file
    # AND that render lints strict and is valid Kubernetes too
    result = helm_python.lint(str(CHART), off, strict=True, kube_version=KUBE_VERSION)
    assert not [m for m in result["messages"] if m["severity"] >= LINT_WARNING] + result["errors"]
    for obj in objects:
        if obj["kind"] != "TargetGroupBinding":
            kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)


def _bounds(field: FieldInfo) -> tuple[Any, Any]:
    lower = next((m.ge for m in field.metadata if hasattr(m, "ge")), None)
    upper = next((m.le for m in field.metadata if hasattr(m, "le")), None)
    return lower, upper


# values.schema.json path -> the service's setting it becomes: the chart must refuse exactly what the
# service would refuse at start-up, or a release installs pods that crash-loop.
SCHEMA_TO_SETTING = {
    ("exports", "retentionDays"): "export_retention_days",
    ("exports", "maxReceives"): "export_max_receives",
    ("exports", "jobTimeoutSeconds"): "export_job_timeout_seconds",
    ("exports", "maxInFlight"): "export_max_in_flight",
    ("exports", "urlTtlSeconds"): "export_url_ttl_seconds",
    ("worker", "shutdownGraceSeconds"): "shutdown_grace_seconds",
}


@pytest.mark.parametrize(
    ("path", "setting"), SCHEMA_TO_SETTING.items(), ids=[".".join(p) for p in SCHEMA_TO_SETTING]
)
def test_the_schema_bounds_are_the_services(path: tuple[str, str], setting: str) -> None:
    schema = json.loads((CHART / "values.schema.json").read_text())
    section, key = path
    prop = schema["properties"][section]["properties"][key]
    field = Settings.model_fields.get(setting)
    assert field is not None, f"app/notes_api/core/config.py has no Settings.{setting} for {section}.{key}"
    assert (prop.get("minimum"), prop.get("maximum")) == _bounds(field), (
        f"values.schema.json {section}.{key} allows {prop.get('minimum')}..{prop.get('maximum')}, "
        f"Settings.{setting} {_bounds(field)}"
    )
    # The export settings keep the service's defaults; the worker's grace is its own (longer) one.
    if section == "exports":
        default = values("values.yaml")[section][key]
        assert default == field.default, (
            f"values.yaml {section}.{key} {default} != Settings.{setting} {field.default}"
        )

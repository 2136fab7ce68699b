"""The database users' hook Job: on in both committed values files, off by default.

GIVEN each committed values file (dbusers.enabled: true), WHEN the chart is rendered, THEN a Job runs
`python -m notes_api.dbusers` with the API's image before every install and upgrade (Helm hook
annotations), after its own ServiceAccount and NetworkPolicy (hooks of a lower weight), hardened like
the API, with a small retry budget and a deadline below the release's timeout, reading both secrets
by ARN, and with labels no API or worker selector matches. GIVEN the Job off, THEN the chart renders
exactly what it rendered before the Job existed.
"""

from __future__ import annotations

from typing import Any

import helm_python
import kubernetes_validate
import pytest

from tests.charts.chart import API, CHART, KUBE_VERSION, VALUES_FILES, WORKER, by_kind, manifests, one, values

DBUSERS = f"{API}-dbusers"
LINT_WARNING = 2
HOOK = "helm.sh/hook"
WEIGHT = "helm.sh/hook-weight"
DELETE_POLICY = "helm.sh/hook-delete-policy"
# The stack's kubernetes.helm.v3.Release waits this long per operation unless told otherwise
# (pulumi-kubernetes provider/pkg/provider/helm_release.go, defaultTimeoutSeconds).
RELEASE_TIMEOUT_SECONDS = 300


@pytest.fixture(scope="module", params=VALUES_FILES)
def rendered(request: pytest.FixtureRequest) -> tuple[str, dict[str, Any], list[dict[str, Any]]]:
    name: str = request.param
    file_values = values(name)
    assert file_values["dbusers"]["enabled"] is True, f"{name} no longer turns the dbusers Job on"
    return name, file_values, manifests(file_values)


def _job_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Job", DBUSERS)["spec"]["template"]["spec"]
    return spec


def _api_pod(objects: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = one(objects, "Deployment", API)["spec"]["template"]["spec"]
    return spec


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container["env"]}


def _hook_objects(objects: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """kind -> the dbusers object of that kind (the ServiceAccount's default name is the Job's)."""
    return {o["kind"]: o for o in objects if o["metadata"]["name"] == DBUSERS}


def test_the_job_runs_the_apis_image_with_the_dbusers_command(rendered: Any) -> None:
    name, _, objects = rendered
    (api,) = _api_pod(objects)["containers"]
    (job,) = _job_pod(objects)["containers"]
    assert job["name"] == "dbusers", name
    assert job["image"] == api["image"] and "@sha256:" in job["image"], name
    assert job["command"] == ["python", "-m", "notes_api.dbusers"], name
    assert job["imagePullPolicy"] == "Always", name


def test_the_job_is_a_pre_install_and_pre_upgrade_hook_after_its_account_and_policy(rendered: Any) -> None:
    # GIVEN the three dbusers objects
    name, _, objects = rendered
    hooks = _hook_objects(objects)
    account = hooks["ServiceAccount"]
    # THEN all three are hooks of the same events, deleted before the next run and once they succeeded
    assert set(hooks) == {"Job", "NetworkPolicy", "ServiceAccount"}, f"{name}: {sorted(hooks)}"
    for obj in hooks.values():
        annotations = obj["metadata"]["annotations"]
        assert annotations[HOOK] == "pre-install,pre-upgrade", (name, obj["kind"])
        assert annotations[DELETE_POLICY] == "before-hook-creation,hook-succeeded", (name, obj["kind"])
    # AND the account and the policy come first: a pre-install hook runs before any ordinary object
    # exists, and a pod must not start without its policy
    job_weight = int(hooks["Job"]["metadata"]["annotations"][WEIGHT])
    assert int(account["metadata"]["annotations"][WEIGHT]) < job_weight, name
    assert int(hooks["NetworkPolicy"]["metadata"]["annotations"][WEIGHT]) < job_weight, name


def test_the_job_gives_up_before_the_release_does_and_does_not_retry_a_configuration_error(
    rendered: Any,
) -> None:
    name, _, objects = rendered
    spec = one(objects, "Job", DBUSERS)["spec"]
    assert 0 < spec["backoffLimit"] <= 3, name
    assert 0 < spec["activeDeadlineSeconds"] < RELEASE_TIMEOUT_SECONDS, name
    assert _job_pod(objects)["restartPolicy"] == "Never", name
    # dbusers exits 2 on a configuration error (app/notes_api/dbusers.py): retrying cannot help.
    assert spec["podFailurePolicy"]["rules"] == [
        {"action": "FailJob", "onExitCodes": {"containerName": "dbusers", "operator": "In", "values": [2]}}
    ], name


def test_the_job_is_hardened_like_the_api(rendered: Any) -> None:
    name, _, objects = rendered
    api_pod, job_pod = _api_pod(objects), _job_pod(objects)
    (api,) = api_pod["containers"]
    (job,) = job_pod["containers"]
    assert job_pod["securityContext"] == api_pod["securityContext"], name
    assert job_pod["securityContext"]["runAsNonRoot"] is True, name
    assert job_pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}, name
    assert job["securityContext"] == api["securityContext"], name
    assert job["securityContext"]["readOnlyRootFilesystem"] is True, name
    assert job["securityContext"]["capabilities"] == {"drop": ["ALL"]}, name
    assert job_pod["volumes"] == api_pod["volumes"], name
    # No Kubernetes token: Pod Identity's webhook mounts its own for the agent.
    assert job_pod["automountServiceAccountToken"] is False, name
    assert job_pod["enableServiceLinks"] is False, name
    assert {"requests", "limits"} <= set(job["resources"]), name


def test_the_job_reads_both_secrets_by_arn_and_holds_no_secret_value(rendered: Any) -> None:
    name, file_values, objects = rendered
    (api,) = _api_pod(objects)["containers"]
    (job,) = _job_pod(objects)["containers"]
    env = _env(job)
    dbusers = file_values["dbusers"]
    assert env == {
        "NOTES_DOCDB_APP_SECRET_ARN": dbusers["appSecretArn"],
        "NOTES_DOCDB_MASTER_SECRET_ARN": dbusers["masterSecretArn"],
        "NOTES_MONGODB_TLS_CA_FILE": _env(api)["NOTES_MONGODB_TLS_CA_FILE"],
        "NOTES_AWS_REGION": "eu-west-1",
    }, name
    # The user it creates is the one in the secret the API logs in with.
    assert env["NOTES_DOCDB_APP_SECRET_ARN"] == _env(api)["NOTES_MONGODB_URI_SECRET_ARN"], name
    # AND the API's pods never see the master secret
    assert dbusers["masterSecretArn"] not in str(_api_pod(objects)), name


def test_the_job_has_its_own_service_account(rendered: Any) -> None:
    name, _, objects = rendered
    account = _job_pod(objects)["serviceAccountName"]
    assert account == "notes-api-dbusers", name
    assert account not in {_api_pod(objects)["serviceAccountName"], "notes-api-worker"}, name
    assert one(objects, "ServiceAccount", account)["automountServiceAccountToken"] is False, name


def test_no_api_or_worker_selector_picks_the_jobs_pod(rendered: Any) -> None:
    name, _, objects = rendered
    labels = one(objects, "Job", DBUSERS)["spec"]["template"]["metadata"]["labels"]
    selectors = [
        one(objects, "Service", API)["spec"]["selector"],
        one(objects, "PodDisruptionBudget", API)["spec"]["selector"]["matchLabels"],
        one(objects, "NetworkPolicy", API)["spec"]["podSelector"]["matchLabels"],
        one(objects, "PodDisruptionBudget", WORKER)["spec"]["selector"]["matchLabels"],
        one(objects, "NetworkPolicy", WORKER)["spec"]["podSelector"]["matchLabels"],
    ]
    for selector in selectors:
        assert not selector.items() <= labels.items(), (name, selector)
    policy = one(objects, "NetworkPolicy", DBUSERS)["spec"]["podSelector"]["matchLabels"]
    assert policy.items() <= labels.items(), name


def test_the_job_network_policy_lets_nothing_in_and_only_what_dbusers_needs_out(rendered: Any) -> None:
    name, file_values, objects = rendered
    spec = one(objects, "NetworkPolicy", DBUSERS)["spec"]
    assert spec["policyTypes"] == ["Ingress", "Egress"] and spec["ingress"] == [], name
    egress = {(p["port"], p["protocol"]) for rule in spec["egress"] for p in rule["ports"]}
    # DNS, DocumentDB, Secrets Manager over HTTPS, the Pod Identity agent; no Redis.
    assert egress == {(53, "UDP"), (53, "TCP"), (27017, "TCP"), (443, "TCP"), (80, "TCP")}, (
        f"{name}: {egress}"
    )
    (mongo,) = [r for r in spec["egress"] if r["ports"] == [{"port": 27017, "protocol": "TCP"}]]
    assert [p["ipBlock"]["cidr"] for p in mongo["to"]] == file_values["networkPolicy"]["dataTierCidrs"], name
    (agent,) = [r for r in spec["egress"] if r["ports"] == [{"port": 80, "protocol": "TCP"}]]
    assert agent["to"] == [{"ipBlock": {"cidr": "169.254.170.23/32"}}], f"{name}: port 80 beyond the agent"


def test_the_hook_objects_are_valid_kubernetes_and_lint_strict(rendered: Any) -> None:
    name, file_values, objects = rendered
    for obj in _hook_objects(objects).values():
        kubernetes_validate.validate(obj, KUBE_VERSION, strict=True)
    result = helm_python.lint(str(CHART), file_values, strict=True, kube_version=KUBE_VERSION)
    assert not [m for m in result["messages"] if m["severity"] >= LINT_WARNING] + result["errors"], name


@pytest.mark.parametrize("values_file", VALUES_FILES)
def test_with_the_job_off_the_chart_renders_as_before(values_file: str) -> None:
    # GIVEN the values file with dbusers.enabled false, and the same file without `dbusers`
    on = values(values_file)
    off = {**on, "dbusers": {**on["dbusers"], "enabled": False}}
    before = {k: v for k, v in on.items() if k != "dbusers"}
    # WHEN both are rendered THEN the objects are the same, and none of them is the Job's
    objects = manifests(off)
    assert objects == manifests(before), values_file
    assert not [o for o in objects if "dbusers" in o["metadata"]["name"]], values_file
    assert not by_kind(objects, "Job"), values_file
    # AND the defaults alone keep it off, with no ARN to give
    defaults = values("values.yaml")["dbusers"]
    assert (defaults["enabled"], defaults["appSecretArn"], defaults["masterSecretArn"]) == (False, "", "")

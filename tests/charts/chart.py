"""Render charts/notes-api offline with helm-python-sdk (the Helm v4 library, no helm binary)."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml
from helm_python import Chart

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "notes-api"
VALUES_FILES = ("values-staging.yaml", "values-prod.yaml")
# The cluster version the EKS stack pins; kubernetes-validate and helm lint check against it.
KUBE_VERSION = "1.33.0"
RELEASE = "notes-api"
NAMESPACE = "notes"
# The API's objects are named after the release (its fullname), the export worker's with -worker.
API = RELEASE
WORKER = f"{RELEASE}-worker"


def values(name: str) -> dict[str, Any]:
    """A copy of one of the chart's values files, for a test to mutate."""
    loaded = yaml.safe_load((CHART / name).read_text())
    assert isinstance(loaded, dict), f"{name} is not a mapping"
    return copy.deepcopy(loaded)


def render(overrides: dict[str, Any]) -> dict[str, str]:
    """Template path -> manifest text, as `helm template` (with the test hooks) would print."""
    chart = Chart.load(str(CHART))
    rendered: dict[str, str] = chart.render(overrides, name=RELEASE, namespace=NAMESPACE, is_install=True)
    return rendered


def manifests(overrides: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object the chart renders, test hooks included."""
    documents: list[dict[str, Any]] = []
    for _, text in sorted(render(overrides).items()):
        for document in yaml.safe_load_all(text):
            if document:
                documents.append(document)
    return documents


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def one(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    """The one object of this kind and name (the API's and the worker's share kinds)."""
    found = [o for o in by_kind(objects, kind) if o["metadata"]["name"] == name]
    assert len(found) == 1, (
        f"expected one {kind}/{name}, rendered {[o['metadata']['name'] for o in by_kind(objects, kind)]}"
    )
    return found[0]


def without_worker(file_values: dict[str, Any]) -> dict[str, Any]:
    """The values file as it was before the export worker: no `worker`, no `exports`."""
    return {k: v for k, v in file_values.items() if k not in ("worker", "exports")}

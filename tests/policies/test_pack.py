"""The pack as the engine sees it: it loads the way `pulumi preview --policy-pack policies` loads
it, its policy list is complete, and the engine's own analyzer code path reports what the
offline evaluator reports.

Constructing ``PolicyPack`` starts a gRPC server and blocks, so the loading test runs the
pack's ``__main__`` with ``PolicyPack`` replaced by a recorder, and the analyzer test drives
pulumi_policy's servicer (what the server would answer with) directly.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import struct_pb2
from pulumi.runtime import proto
from pulumi_policy import EnforcementLevel, Policy, ResourceValidationPolicy, StackValidationPolicy
from pulumi_policy.policy import _POLICY_PACK_NAME_RE, _PolicyAnalyzerServicer

from notes_platform.checks.policy_pack import PackConfig, Violation, evaluate
from policies.notes_policies import AREAS, PACK_NAME, all_policies
from policies.notes_policies.common import ResourceRule
from tests.policies import fixtures as f
from tests.policies import (
    test_backup,
    test_compute,
    test_data,
    test_edge,
    test_eks,
    test_identity,
    test_network,
    test_observability,
    test_queues,
    test_rotation,
    test_secrets,
)
from tests.policies.harness import Resource, aws_resource_class, snapshot

PACK_DIR = Path(__file__).resolve().parents[2] / "policies"
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")

# What `python -m pulumi.policy <engine> <pack dir>` does, started from the pack directory as the
# engine starts it, with PolicyPack recording its arguments instead of serving them.
LOADER = """
import json, runpy, sys
import pulumi_policy

class RecordingPack:
    def __init__(self, name, policies, enforcement_level=None, **options):
        print(json.dumps({
            "name": name,
            "policies": [[p.name, type(p).__mro__[1].__name__, getattr(p.enforcement_level, "value", None)]
                         for p in policies],
            "enforcement": getattr(enforcement_level, "value", None),
            "options": sorted(options),
        }))

pulumi_policy.PolicyPack = RecordingPack
sys.argv = ["pulumi.policy", "127.0.0.1:0", "."]
try:
    runpy.run_module("pulumi.policy", run_name="__main__", alter_sys=True)
finally:
    print(json.dumps({"module": sys.modules["notes_policies"].__file__}))
"""


def _load_like_the_engine() -> tuple[dict[str, Any], str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", LOADER],
        check=False,
        cwd=PACK_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"the pack did not load:\n{done.stdout}\n{done.stderr}"
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    return lines[0], lines[-1]["module"]


def test_the_engine_loads_the_pack_from_its_directory() -> None:
    # GIVEN the pack directory WHEN the engine's policy host runs it
    pack, module = _load_like_the_engine()
    # THEN PolicyPack gets every policy of the pack, under a valid name
    assert pack["name"] == PACK_NAME and _POLICY_PACK_NAME_RE.match(pack["name"])
    assert [name for name, _, _ in pack["policies"]] == [p.name for p in all_policies()]
    assert len(pack["policies"]) >= 30
    assert pack["enforcement"] == "mandatory"
    # ... imported from the pack directory itself, not from the repository
    assert Path(module) == PACK_DIR / "notes_policies" / "__init__.py"


def test_the_pack_declares_a_python_runtime_with_its_requirements() -> None:
    manifest = yaml.safe_load((PACK_DIR / "PulumiPolicy.yaml").read_text())
    assert manifest["runtime"]["name"] == "python"
    assert manifest["runtime"]["options"]["virtualenv"] == "venv"
    requirements = (PACK_DIR / "requirements.txt").read_text()
    assert re.search(r"^pulumi-policy\b", requirements, re.MULTILINE), requirements


def test_every_policy_of_an_area_is_in_its_list() -> None:
    for area in AREAS:
        defined = {id(v) for v in vars(area).values() if isinstance(v, Policy)}
        listed = {id(p) for p in area.POLICIES}
        assert defined == listed, f"{area.__name__}: a policy is defined but not in POLICIES, or the reverse"


def test_policy_names_are_unique_and_kebab_case() -> None:
    names = [p.name for p in all_policies()]
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert [n for n in names if not KEBAB.match(n)] == []


def test_every_policy_describes_itself_and_its_settings() -> None:
    for policy in all_policies():
        assert policy.description.endswith("."), policy.name
        assert policy.enforcement_level in (EnforcementLevel.ADVISORY, EnforcementLevel.MANDATORY), (
            policy.name
        )
        for key, spec in (policy.config_schema.properties if policy.config_schema else {}).items():
            assert {"type", "default", "description"} <= set(spec), f"{policy.name}.{key}"
    # The defaults themselves pass the schema they belong to.
    defaults = {p.name: PackConfig().settings(p) for p in all_policies() if p.config_schema}
    PackConfig(defaults).check(all_policies())


@pytest.mark.parametrize(
    "policy", [p for p in all_policies() if isinstance(p, ResourceRule)], ids=lambda p: p.name
)
def test_resource_policies_name_real_pulumi_aws_types(policy: ResourceRule) -> None:
    for type_token in policy.resource_types:
        assert aws_resource_class(type_token) is not None, (
            f"{policy.name}: {type_token} is not a pulumi_aws resource"
        )


TESTED = [
    test_backup,
    test_network,
    test_edge,
    test_compute,
    test_eks,
    test_data,
    test_queues,
    test_rotation,
    test_secrets,
    test_identity,
    test_observability,
]


def test_every_policy_has_a_mutation_and_every_message_says_must() -> None:
    mutations = [m for module in TESTED for m in (*module.MUTATIONS, *getattr(module, "STACK_MUTATIONS", []))]
    covered = {m.policy.name for m in mutations} | {"required-tags"}  # test_tagging: its own cases
    assert sorted({p.name for p in all_policies()} - covered) == []
    messages = {getattr(m, "message", "") for m in mutations} | {
        message for m in mutations for message, _ in getattr(m, "expected", [])
    }
    assert sorted(m for m in messages - {""} if " must " not in m or not m.endswith(".")) == []


# The engine's own code path


def _struct(value: dict[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(value)
    return struct


def _options(resource: Resource) -> Any:
    return proto.AnalyzerResourceOptions(protect=resource["protect"], parent=resource["parent"] or "")


def _provider(resource: Resource, by_urn: dict[str, Resource]) -> Any:
    provider = by_urn.get(resource["provider"] or "")
    if provider is None:
        return None
    return proto.AnalyzerProviderResource(
        type=provider["type"],
        properties=_struct(provider["inputs"]),
        urn=provider["urn"],
        name=provider["name"],
    )


def engine_violations(resources: list[Resource], config: PackConfig) -> set[Violation]:
    """What pulumi_policy's analyzer answers the engine, configured as the CLI would configure it."""
    policies = all_policies()
    servicer = _PolicyAnalyzerServicer(PACK_NAME, "0.1.0", policies, EnforcementLevel.MANDATORY)
    servicer.Configure(
        proto.ConfigureAnalyzerRequest(
            policyConfig={
                p.name: proto.PolicyConfig(
                    enforcementLevel=servicer._map_enforcement_level(config.enforcement(p)),
                    properties=_struct(config.settings(p)),
                )
                for p in policies
            }
        ),
        None,
    )
    by_urn = {r["urn"]: r for r in resources}
    found: set[Violation] = set()

    def collect(response: Any, urn: str) -> None:
        for d in response.diagnostics:
            level = {proto.ADVISORY: "advisory", proto.MANDATORY: "mandatory"}[d.enforcementLevel]
            # The engine shows "<description>\n<message>"; the offline report keeps the message.
            found.add(Violation(d.policyName, level, d.message.split("\n", 1)[1], d.urn or urn))

    for r in resources:
        request = proto.AnalyzeRequest(
            type=r["type"], properties=_struct(r["inputs"]), urn=r["urn"], name=r["name"], options=_options(r)
        )
        provider = _provider(r, by_urn)
        if provider is not None:
            request.provider.CopyFrom(provider)
        collect(servicer.Analyze(request, None), r["urn"])
    stack = proto.AnalyzeStackRequest()
    for r in resources:
        item = stack.resources.add(
            type=r["type"],
            properties=_struct(r["inputs"]),
            urn=r["urn"],
            name=r["name"],
            options=_options(r),
            parent=r["parent"] or "",
            dependencies=r["dependencies"],
        )
        provider = _provider(r, by_urn)
        if provider is not None:
            item.provider.CopyFrom(provider)
    collect(servicer.AnalyzeStack(stack, None), "")
    return found


PLANS = {
    "staging": ("staging", lambda: snapshot("staging")),
    "prod": ("prod", lambda: snapshot("prod")),
    "prod with its edge and alarms": ("prod", f.prod_graph),
}


@pytest.mark.parametrize("plan", sorted(PLANS))
def test_the_engine_path_and_the_offline_evaluator_agree(plan: str) -> None:
    # GIVEN a plan with one violation of each kind planted
    stack, build = PLANS[plan]
    graph = build()
    for r in graph:
        if r["type"] == "aws:wafv2/webAcl:WebAcl":
            r["inputs"]["rules"][0]["visibilityConfig"]["cloudwatchMetricsEnabled"] = False
        if r["type"] == "aws:docdb/cluster:Cluster":
            r["inputs"]["storageEncrypted"] = False
        if r["type"] == "aws:ec2/flowLog:FlowLog":
            r["dependencies"] = []
    config = PackConfig.for_stack(stack)
    # WHEN the engine's analyzer and the offline evaluator both run the pack
    offline = set(evaluate(graph, stack, config))
    engine = engine_violations(graph, config)
    # THEN they report the same violations, the planted ones among them
    assert offline == engine
    assert {"docdb-storage-encrypted", "vpc-flow-logs-enabled"} <= {v.policy for v in offline}


def test_policies_are_resource_or_stack_policies() -> None:
    assert all(isinstance(p, ResourceValidationPolicy | StackValidationPolicy) for p in all_policies())

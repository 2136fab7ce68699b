"""``notes-platform graph``: the diagram is read from the plan, follows it, and shows what changes."""

from __future__ import annotations

import argparse
import copy
import json
import re
from pathlib import Path

import pytest

from notes_platform.commands import graph as graph_command
from notes_platform.graph import plan as plan_module
from notes_platform.graph.diagram import build, drawn_edges, mermaid
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "docs" / "prod.mmd"


def _without(resources: list[Recorded], name: str) -> list[Recorded]:
    """A copy of the plan's resources without the one named ``name`` (no other edit)."""
    kept = [copy.deepcopy(r) for r in resources if r.name != name]
    assert len(kept) == len(resources) - 1, f"{name} is not in the plan"
    return kept


def _hop(resources: list[Recorded], source: str, target: str) -> str:
    """The drawn label of the request-path hop ``source`` -> ``target`` ("" when not drawn)."""
    diagram = build(resources)
    return next(
        (
            e.label
            for e in drawn_edges(diagram)
            if (e.source, e.target) == (source, target) and e.kind == "path"
        ),
        "",
    )


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_request_path_runs_from_the_internet_to_the_data_stores(
    plans: dict[str, Plan], stack: str
) -> None:
    # GIVEN a stack's plan / WHEN it is drawn
    diagram = build(plans[stack].resources)
    path = {(e.source, e.target) for e in diagram.edges_of("path")}
    # THEN the path edges chain internet -> CloudFront -> ALB -> service -> DocumentDB and Redis
    hops = [
        ("internet", f"{stack}_edge_distribution"),
        (f"{stack}_edge_distribution", f"{stack}_alb_lb"),
        (f"{stack}_alb_lb", f"{stack}_api_service"),
        (f"{stack}_api_service", f"{stack}_docdb_cluster"),
        (f"{stack}_api_service", f"{stack}_redis_group"),
        # The export worker reaches DocumentDB only (it starts after the API, which is no path).
        (f"{stack}_worker_service", f"{stack}_docdb_cluster"),
    ]
    assert path == set(hops)
    # ... the WAF sits on the distribution, and each part sits in the tier its subnets' routes give
    assert (f"{stack}_edge_web_acl", f"{stack}_edge_distribution") in {
        (e.source, e.target) for e in diagram.edges_of("attached")
    }
    tiers = {n.id: n.tier for n in diagram.nodes}
    assert tiers[f"{stack}_edge_distribution"] == "edge"
    assert tiers[f"{stack}_alb_lb"] == "public"
    assert tiers[f"{stack}_api_service"] == "private"
    assert tiers[f"{stack}_docdb_cluster"] == tiers[f"{stack}_redis_group"] == "isolated"


@pytest.mark.parametrize(
    ("removed", "hop", "before", "after"),
    [
        # planted: without its ingress rule a hop has no security-group edge
        ("sg-tasks-in-app-alb", ("alb_lb", "api_service"), "SG 8000/tcp", None),
        ("sg-docdb-in-tasks", ("api_service", "docdb_cluster"), "SG 27017/tcp", None),
        ("sg-redis-in-tasks", ("api_service", "redis_group"), "SG 6379/tcp", None),
        # planted: ingress without the source's egress rule is drawn, and says so
        (
            "sg-tasks-out-docdb",
            ("api_service", "docdb_cluster"),
            "SG 27017/tcp",
            "SG 27017/tcp (no egress rule)",
        ),
        # clean: removing a resource no hop depends on leaves every SG edge as it was
        ("service-alarms-api-cpu", ("alb_lb", "api_service"), "SG 8000/tcp", "SG 8000/tcp"),
    ],
)
def test_security_group_edges_follow_the_recorded_rules(
    plans: dict[str, Plan], removed: str, hop: tuple[str, str], before: str, after: str | None
) -> None:
    # GIVEN prod's plan, and a copy with one resource removed
    resources = plans["prod"].resources
    source, target = (f"prod_{h}" for h in hop)
    assert _hop(resources, source, target).endswith(before), f"{source} -> {target}"
    # WHEN the copy is drawn
    label = _hop(_without(resources, f"prod-{removed}"), source, target)
    # THEN the hop's SG label is gone (the path stays: it comes from the wiring), or unchanged
    if after is None:
        assert label and "SG" not in label, f"{source} -> {target}: {label}"
    else:
        assert label.endswith(after), f"{source} -> {target}: {label}"


def test_the_prefix_list_ingress_is_an_edge_from_its_own_node(plans: dict[str, Plan]) -> None:
    # GIVEN prod's ALB ingress from CloudFront's origin-facing prefix list
    resources = plans["prod"].resources
    sg_edges = {(e.source, e.target, e.label) for e in build(resources).edges_of("sg")}
    assert ("pl_pl_4fa04526", "prod_alb_lb", "SG 443/tcp") in sg_edges
    # WHEN that rule is removed / THEN its edge is gone and nothing else drew it
    without = build(_without(resources, "prod-sg-alb-in-https-cloudfront"))
    assert not [e for e in without.edges_of("sg") if e.target == "prod_alb_lb"]


def test_secrets_keys_and_alarms_hang_off_the_parts_that_use_them(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan / WHEN it is drawn
    diagram = build(plans["prod"].resources)
    reads = {(e.source, e.target) for e in diagram.edges_of("reads")}
    # THEN the service reads the three secrets its task definition names (ECS injects one, the API
    # reads two by ARN), each under the secrets key
    for secret in ("docdb_app_secret", "jwt_signing_key_secret", "redis_auth_g1_secret"):
        assert ("prod_api_service", f"prod_{secret}") in reads
        assert (f"prod_{secret}", "prod_keys_secrets") in reads
    assert ("prod_docdb_cluster", "prod_keys_docdb") in reads
    assert ("prod_redis_group", "prod_keys_cache") in reads
    # ... and alarms are grouped per watched part, counted, with the names folded
    alarms = diagram.node("alarms_prod_docdb_cluster")
    assert alarms.label.startswith("12 alarms<br/>") and alarms.label.endswith("+9 more")
    assert diagram.node("alarms_prod_edge_web_acl").label.startswith("1 alarm<br/>")  # by dimension
    assert "alarms_unplaced" not in {n.id for n in diagram.nodes}


def test_highlights_mark_nodes_and_rule_edges(plans: dict[str, Plan]) -> None:
    # GIVEN prod's resources and a review's triage
    resources = plans["prod"].resources
    urn = {r.name: r.urn for r in resources}
    highlight = {
        urn["prod-docdb-cluster"]: "risky",
        urn["prod-docdb-instance-2"]: "changed",  # same node: risky wins
        urn["prod-alb-https"]: "changed",  # a listener: a member of the ALB node
        urn["prod-redis-parameters"]: "changed",  # not drawn: the node of its component
        urn["prod-sg-tasks-in-app-alb"]: "risky",  # a rule: its edge
        urn["prod-network-public-rt"]: "changed",  # its component has many parts: not drawn
    }
    # WHEN it is drawn with the highlights
    text = mermaid(resources, highlight)
    # THEN nodes carry the classes, the rule's edge its stroke, the undrawn URN a comment
    assert "classDef risky" in text and "classDef changed" in text
    assert "  class prod_docdb_cluster risky\n" in text
    assert "  class prod_alb_lb,prod_redis_group changed\n" in text
    edges = [
        line
        for line in text.splitlines()
        if "==>" in line or "-.->" in line or "---" in line or "-->" in line
    ]
    index = next(i for i, line in enumerate(edges) if line.startswith("  prod_alb_lb ==>"))
    assert f"  linkStyle {index} stroke:#c62828,stroke-width:3px" in text
    assert f"%% changed, not drawn: {urn['prod-network-public-rt']}" in text
    # ... and with no highlight there are no classes (clean)
    assert "classDef" not in mermaid(resources) and "linkStyle" not in mermaid(resources)
    with pytest.raises(ValueError, match="highlight must be one of"):
        mermaid(resources, {urn["prod-docdb-cluster"]: "scary"})


def test_the_diagram_is_stable_and_reads_a_plan_file_as_it_reads_the_plan(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan, and the same plan written as JSON and read back (no per-property deps)
    plan = plans["prod"]
    read_back = [Recorded.from_json(r) for r in json.loads(plan.to_json())["resources"]]
    # WHEN drawn twice, and from the file / THEN the text is the same every time
    first = mermaid(plan.resources)
    assert first == mermaid(plan.resources)
    assert first == mermaid(list(reversed(read_back)))
    # ... and every node id is the URN's name (a diagram diff reads like a plan diff)
    ids = re.findall(r"^\s+(\w+)[\[(>{]", first, flags=re.MULTILINE)
    names = {re.sub(r"[^a-z0-9]+", "_", r.name.lower()) for r in plan.resources}
    assert {i for i in ids if i.startswith("prod_")} <= names


def test_staging_and_prod_differ_where_the_stacks_differ(plans: dict[str, Plan]) -> None:
    # GIVEN both stacks / WHEN drawn
    drawn = {stack: build(plans[stack].resources) for stack in ("staging", "prod")}

    def per_az(stack: str, kind: str) -> dict[str, int]:
        counts: dict[str, int] = {}
        for node in drawn[stack].nodes:
            if node.kind == kind:
                counts[node.az or "?"] = counts.get(node.az or "?", 0) + 1
        return counts

    # THEN staging has two AZs and one NAT gateway, prod three of each
    assert per_az("staging", "subnet") == {"eu-west-1a": 3, "eu-west-1b": 3}
    assert per_az("prod", "subnet") == {"eu-west-1a": 3, "eu-west-1b": 3, "eu-west-1c": 3}
    assert per_az("staging", "nat") == {"eu-west-1a": 1}
    assert per_az("prod", "nat") == {"eu-west-1a": 1, "eu-west-1b": 1, "eu-west-1c": 1}
    # ... staging's private subnets both route through its one NAT gateway; prod's stay in their AZ
    routes = {(e.source, e.target) for e in drawn["staging"].edges_of("route") if e.label == "0.0.0.0/0"}
    assert routes == {
        ("staging_network_private_eu_west_1a", "staging_network_nat_eu_west_1a"),
        ("staging_network_private_eu_west_1b", "staging_network_nat_eu_west_1a"),
    }
    prod_routes = [(e.source, e.target) for e in drawn["prod"].edges_of("route") if e.label == "0.0.0.0/0"]
    assert len(prod_routes) == 3 and all(s[-2:] == t[-2:] for s, t in prod_routes)


def test_the_committed_diagram_is_the_one_the_program_plans(plans: dict[str, Plan]) -> None:
    # GIVEN the committed Mermaid file and the README's block / WHEN prod is planned now
    planned = mermaid(plans["prod"].resources)
    # THEN both are what `make diagram` would write (run it after changing the program)
    assert COMMITTED.read_text() == planned, "docs/prod.mmd is stale: run `make diagram`"
    readme = (ROOT / "README.md").read_text()
    assert graph_command.embed(readme, "prod", planned) == readme, "README's diagram is stale: `make diagram`"


def _args(tmp_path: Path, **options: Path | None) -> argparse.Namespace:
    values: dict[str, object] = {"mermaid": None, "svg": None, "readme": None, "project_dir": None}
    return argparse.Namespace(stack="staging", **{**values, **options})


def test_svg_without_graphviz_says_so_and_exits_3(
    plans: dict[str, Plan],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    # GIVEN no `dot` on PATH (the Debian graphviz package missing)
    monkeypatch.setattr(plan_module, "run_plan", lambda stack, root: plans[stack])
    monkeypatch.setenv("PATH", str(tmp_path))
    # WHEN SVG and Mermaid are asked for
    code = graph_command.run(_args(tmp_path, mermaid=tmp_path / "s.mmd", svg=tmp_path / "s.svg"))
    # THEN the Mermaid is written, no SVG, and the message names what to install
    assert code == 3
    assert "Debian package graphviz" in capsys.readouterr().err
    assert (tmp_path / "s.mmd").read_text() == mermaid(plans["staging"].resources)
    assert not (tmp_path / "s.svg").exists()


def test_svg_renders_through_graphviz(
    plans: dict[str, Plan], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN Graphviz installed (scripts/bootstrap.sh) / WHEN SVG is asked for / THEN it holds the parts
    monkeypatch.setattr(plan_module, "run_plan", lambda stack, root: plans[stack])
    assert graph_command.run(_args(tmp_path, svg=tmp_path / "s.svg")) == 0
    text = (tmp_path / "s.svg").read_text()
    assert text.lstrip().startswith("<?xml") and "staging_api_service" in text


@pytest.mark.parametrize(
    ("readme", "code"),
    [
        ("# x\n<!-- notes-platform graph staging -->\nSTALE\n<!-- end notes-platform graph -->\ntail\n", 0),
        ("# x\nno markers here\n", 2),  # planted: nowhere to put it
    ],
)
def test_the_readme_block_is_replaced_between_its_markers(
    plans: dict[str, Plan], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, readme: str, code: int
) -> None:
    # GIVEN a README / WHEN the diagram is embedded / THEN between the markers only, or exit 2
    monkeypatch.setattr(plan_module, "run_plan", lambda stack, root: plans[stack])
    path = tmp_path / "README.md"
    path.write_text(readme)
    assert graph_command.run(_args(tmp_path, readme=path)) == code
    if code == 0:
        text = path.read_text()
        assert "STALE" not in text and text.endswith("<!-- end notes-platform graph -->\ntail\n")
        assert f"```mermaid\n{mermaid(plans['staging'].resources)}```\n" in text
    else:
        assert path.read_text() == readme

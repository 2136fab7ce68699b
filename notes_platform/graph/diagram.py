"""The planned stack as a picture: Mermaid for GitHub (README, review comments), SVG through Graphviz.

``mermaid(resources, highlight)`` draws the diagram of ``diagram_model`` (parts grouped by tier and
AZ, the request path, security-group edges, secrets and keys read, alarm groups). Node ids are
the resources' URN names, so a diagram diff reads like a plan diff. ``highlight`` maps URNs to
"risky" or "changed" (the review command's triage); a URN no node stands for marks the node of
its component, a security-group rule marks its edge.

    print(mermaid(run_plan("prod").resources))
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from notes_platform.graph.diagram_edges import (
    add_alarms,
    add_reads,
    add_request_path,
    add_security_group_edges,
)
from notes_platform.graph.diagram_model import (
    DISTRIBUTION,
    TIERS,
    VPC,
    Builder,
    Diagram,
    Edge,
    Node,
    References,
    slug,
)
from notes_platform.graph.diagram_parts import add_network, add_parts, subnet_tiers
from notes_platform.graph.mocks import Recorded

if TYPE_CHECKING:
    import graphviz  # type: ignore[import-untyped]

HIGHLIGHTS = ("risky", "changed")  # strongest first: a node both risky and changed is risky
# Mermaid classDef / linkStyle and Graphviz attributes of each highlight.
COLOURS = {"risky": ("#ffd6d6", "#c62828"), "changed": ("#fff1c2", "#b7791f")}
MERMAID_ARROWS = {
    "path": "==>",
    "sg": "-.->",
    "route": "-->",
    "reads": "-.->",
    "attached": "---",
    "watches": "-.-",
}
MERMAID_SHAPES = {
    "internet": ('(("', '"))'),
    "source": ('(["', '"])'),
    "key": ('{{"', '"}}'),
    "secret": ('[/"', '"/]'),
    "alarms": ('>"', '"]'),
}
EDGE_ORDER = ("path", "attached", "sg", "route", "reads", "watches")
HEADER = "%% Generated from the plan by `notes-platform graph`; `make diagram` regenerates it."


def build(resources: Iterable[Recorded]) -> Diagram:
    """The diagram of a planned stack (the resources of a plan, or of a copy a test edited)."""
    refs = References(resources)
    b = Builder(refs)
    if refs.of_type(DISTRIBUTION):
        b.add(Node("internet", "Internet", "internet"))
    tiers = subnet_tiers(refs)
    add_parts(b, tiers)
    add_network(b, tiers)
    add_request_path(b)
    add_security_group_edges(b)
    add_reads(b)
    add_alarms(b)
    vpcs = refs.of_type(VPC)
    vpc_label = f"VPC {vpcs[0].inputs.get('cidrBlock', '')}" if len(vpcs) == 1 else None
    owners = dict(b.owners)
    # A resource no node stands for (a listener's certificate, a route table) belongs to the
    # node of the only drawn part of its component, or of its component's component.
    by_component: dict[str, set[str]] = {}
    for urn, node_id in b.owners.items():
        parent = refs.by_urn[urn].parent if urn in refs.by_urn else None
        if parent:
            by_component.setdefault(parent, set()).add(node_id)
    for r in refs.resources:
        parent = r.parent
        while r.urn not in owners and parent:
            candidates = by_component.get(parent, set())
            if len(candidates) == 1:
                owners[r.urn] = next(iter(candidates))
            parent = refs.by_urn[parent].parent if parent in refs.by_urn else None
    edges = sorted(b.edges, key=lambda e: (EDGE_ORDER.index(e.kind), e.source, e.target, e.label))
    return Diagram(sorted(b.nodes.values(), key=lambda n: n.id), edges, vpc_label, owners)


def drawn_edges(diagram: Diagram) -> list[Edge]:
    """The edges as drawn: a security-group edge that allows a hop of the request path joins
    that hop's label instead of being drawn twice."""
    path = {(e.source, e.target): e for e in diagram.edges if e.kind == "path"}
    drawn: list[Edge] = []
    for edge in diagram.edges:
        hop = path.get((edge.source, edge.target))
        if edge.kind == "sg" and hop is not None:
            hop.label = f"{hop.label} · {edge.label}"
            hop.urns = sorted({*hop.urns, *edge.urns})
        else:
            drawn.append(edge)
    return drawn


def _classes(diagram: Diagram, highlight: Mapping[str, str]) -> tuple[dict[str, str], list[str]]:
    """Node id -> highlight, and the highlighted URNs no node stands for."""
    unknown = sorted(set(highlight.values()) - set(HIGHLIGHTS))
    if unknown:
        raise ValueError(f"highlight must be one of {HIGHLIGHTS}, not {unknown}")
    classes: dict[str, str] = {}
    missing: list[str] = []
    in_edges = {u for e in diagram.edges for u in e.urns}
    for urn, kind in sorted(highlight.items()):
        node = diagram.owners.get(urn)
        if node is None:
            if urn not in in_edges:
                missing.append(urn)
            continue
        if HIGHLIGHTS.index(kind) < HIGHLIGHTS.index(classes.get(node, "changed")) or node not in classes:
            classes[node] = kind
    return classes, missing


def _strongest(urns: Iterable[str], highlight: Mapping[str, str]) -> str | None:
    kinds = {highlight[u] for u in urns if u in highlight}
    return next((k for k in HIGHLIGHTS if k in kinds), None)


def _groups(
    diagram: Diagram,
) -> tuple[list[Node], dict[str, list[Node]], dict[tuple[str, str], list[Node]], list[Node]]:
    """Nodes outside every group, by tier (spanning AZs), by (tier, AZ), and secrets and keys."""
    outside: list[Node] = []
    held: list[Node] = []
    by_tier: dict[str, list[Node]] = {}
    by_az: dict[tuple[str, str], list[Node]] = {}
    for node in diagram.nodes:
        if node.kind in {"secret", "key"}:
            held.append(node)
        elif node.tier in TIERS and node.az:
            by_az.setdefault((node.tier, node.az), []).append(node)
        elif node.tier in TIERS:
            by_tier.setdefault(node.tier, []).append(node)
        else:
            outside.append(node)
    return outside, by_tier, by_az, held


def _label(text: str) -> str:
    return text.replace('"', "#quot;")


def mermaid(resources: Iterable[Recorded], highlight: Mapping[str, str] | None = None) -> str:
    """The stack as a Mermaid ``flowchart LR``; ``highlight`` maps URNs to "risky" | "changed"."""
    diagram = build(resources)
    marks = dict(highlight or {})
    classes, missing = _classes(diagram, marks)
    outside, by_tier, by_az, held = _groups(diagram)
    lines = ["flowchart LR", f"  {HEADER}"]

    def node_line(node: Node, indent: str) -> str:
        start, end = MERMAID_SHAPES.get(node.kind, ('["', '"]'))
        return f"{indent}{node.id}{start}{_label(node.label)}{end}"

    lines += [node_line(n, "  ") for n in outside]
    if by_tier.get("edge"):
        lines.append('  subgraph tier_edge["edge (CloudFront, global)"]')
        lines += [node_line(n, "    ") for n in by_tier["edge"]]
        lines.append("  end")
    vpc_tiers = [t for t in TIERS[1:] if by_tier.get(t) or any(k[0] == t for k in by_az)]
    if vpc_tiers:
        lines.append(f'  subgraph vpc["{_label(diagram.vpc_label or "VPC")}"]')
        for tier in vpc_tiers:
            lines.append(f'    subgraph tier_{tier}["{tier}{" (data)" if tier == "isolated" else ""}"]')
            lines += [node_line(n, "      ") for n in by_tier.get(tier, [])]
            for (t, az), nodes in sorted(by_az.items()):
                if t == tier:
                    lines.append(f'      subgraph {slug(f"{tier} {az}")}["{az}"]')
                    lines += [node_line(n, "        ") for n in nodes]
                    lines.append("      end")
            lines.append("    end")
        lines.append("  end")
    if held:
        lines.append('  subgraph secrets_and_keys["secrets and KMS keys"]')
        lines += [node_line(n, "    ") for n in held]
        lines.append("  end")
    link_styles: list[str] = []
    for index, edge in enumerate(drawn_edges(diagram)):
        arrow = MERMAID_ARROWS[edge.kind]
        lines.append(f'  {edge.source} {arrow}|"{_label(edge.label)}"| {edge.target}')
        mark = _strongest(edge.urns, marks)
        if mark:
            link_styles.append(f"  linkStyle {index} stroke:{COLOURS[mark][1]},stroke-width:3px")
    if classes:
        for kind in HIGHLIGHTS:
            fill, stroke = COLOURS[kind]
            lines.append(f"  classDef {kind} fill:{fill},stroke:{stroke},stroke-width:3px")
        for kind in HIGHLIGHTS:
            ids = sorted(n for n, k in classes.items() if k == kind)
            if ids:
                lines.append(f"  class {','.join(ids)} {kind}")
    lines += link_styles
    lines += [f"  %% {marks[urn]}, not drawn: {urn}" for urn in missing]
    return "\n".join(lines) + "\n"


def dot(resources: Iterable[Recorded]) -> graphviz.Digraph:
    """The same diagram as a Graphviz digraph (clusters for tiers and AZs)."""
    import graphviz  # noqa: PLC0415 (only the SVG needs it)

    diagram = build(resources)
    outside, by_tier, by_az, held = _groups(diagram)
    graph = graphviz.Digraph(
        "stack",
        graph_attr={"rankdir": "LR", "fontname": "Helvetica", "compound": "true"},
        node_attr={"shape": "box", "fontname": "Helvetica", "fontsize": "11"},
        edge_attr={"fontname": "Helvetica", "fontsize": "9"},
    )
    shapes = {
        "internet": "ellipse",
        "source": "oval",
        "key": "hexagon",
        "secret": "parallelogram",
        "alarms": "note",
    }

    def put(target: graphviz.Digraph, node: Node) -> None:
        target.node(node.id, node.label.replace("<br/>", "\n"), shape=shapes.get(node.kind, "box"))

    for node in outside:
        put(graph, node)
    with graph.subgraph(name="cluster_tier_edge", graph_attr={"label": "edge (CloudFront, global)"}) as edge:
        for node in by_tier.get("edge", []):
            put(edge, node)
    with graph.subgraph(name="cluster_vpc", graph_attr={"label": diagram.vpc_label or "VPC"}) as vpc:
        for tier in TIERS[1:]:
            with vpc.subgraph(name=f"cluster_tier_{tier}", graph_attr={"label": tier}) as group:
                for node in by_tier.get(tier, []):
                    put(group, node)
                for (t, az), nodes in sorted(by_az.items()):
                    if t == tier:
                        with group.subgraph(
                            name=f"cluster_{slug(f'{tier} {az}')}", graph_attr={"label": az}
                        ) as zone:
                            for node in nodes:
                                put(zone, node)
    with graph.subgraph(
        name="cluster_secrets_and_keys", graph_attr={"label": "secrets and KMS keys"}
    ) as keys:
        for node in held:
            put(keys, node)
    styles = {
        "path": {"penwidth": "2.5"},
        "sg": {"style": "dashed"},
        "reads": {"style": "dotted"},
        "watches": {"style": "dotted", "arrowhead": "none"},
        "attached": {"arrowhead": "none"},
    }
    for edge in drawn_edges(diagram):
        graph.edge(edge.source, edge.target, label=edge.label, **styles.get(edge.kind, {}))
    return graph


def svg(resources: Iterable[Recorded]) -> bytes:
    """The diagram rendered by Graphviz's ``dot``. Raises ``graphviz.ExecutableNotFound`` when
    the Graphviz binaries are not installed (Debian package ``graphviz``)."""
    rendered: bytes = dot(resources).pipe(format="svg")
    return rendered

"""The edges of the diagram: the request path, security-group rules, secrets and keys read,
alarms on each part."""

from __future__ import annotations

from collections.abc import Iterable

from notes_platform.graph.diagram_model import (
    ALARM,
    ALARM_NAMES_SHOWN,
    DISTRIBUTION,
    DOCDB_CLUSTER,
    ECS_SERVICE,
    EGRESS_RULE,
    INGRESS_RULE,
    KMS_ALIAS,
    KMS_INPUTS,
    KMS_KEY,
    LOAD_BALANCERS,
    RECORD,
    REDIS,
    SECURITY_GROUP,
    SG_INPUTS,
    TARGET_GROUP,
    TASK_DEFINITION,
    WEB_ACL,
    Builder,
    Node,
    References,
    as_list,
    container_secrets,
    slug,
    strings,
)
from notes_platform.graph.mocks import Recorded


def _ports(rule: Recorded) -> str:
    protocol = str(rule.inputs.get("ipProtocol", "")).lower()
    if protocol in {"-1", "all"}:
        return "all traffic"
    low, high = rule.inputs.get("fromPort"), rule.inputs.get("toPort")
    return f"{low}/{protocol}" if low == high else f"{low}-{high}/{protocol}"


def _covers(egress: Recorded, ingress: Recorded) -> bool:
    """Whether an egress rule lets out what an ingress rule lets in (same protocol, the
    ingress port range inside the egress one; protocol -1 means every protocol and port)."""
    if str(egress.inputs.get("ipProtocol")) == "-1":
        return True
    if str(egress.inputs.get("ipProtocol")) != str(ingress.inputs.get("ipProtocol")):
        return False
    low, high = egress.inputs.get("fromPort", 0), egress.inputs.get("toPort", 65535)
    return bool(low <= ingress.inputs.get("fromPort", 0) and ingress.inputs.get("toPort", 65535) <= high)


def _external_source(b: Builder, rule: Recorded) -> str | None:
    """The node of a rule's prefix list or CIDR peer (outside the parts we draw)."""
    prefix_list = rule.inputs.get("prefixListId") or rule.inputs.get("destinationPrefixListId")
    if isinstance(prefix_list, str):
        description = str(rule.inputs.get("description", ""))
        node_id = slug(f"pl {prefix_list}")
        if node_id not in b.nodes:
            b.add(Node(node_id, f"prefix list {prefix_list}<br/>{description}", "source"))
        return node_id
    cidr = rule.inputs.get("cidrIpv4") or rule.inputs.get("cidrIpv6")
    if isinstance(cidr, str):
        node_id = slug(f"cidr {cidr}")
        if node_id not in b.nodes:
            b.add(Node(node_id, cidr, "source"))
        return node_id
    return None


def _group_users(b: Builder) -> dict[str, list[str]]:
    """Security group URN -> ids of the parts whose members use it."""
    refs, users = b.refs, dict[str, list[str]]()
    for node in b.nodes.values():
        for urn in node.urns:
            for key in SG_INPUTS:
                resource = refs.by_urn[urn]
                held = resource.inputs.get(key) or (resource.inputs.get("networkConfiguration") or {}).get(
                    key
                )
                for value in as_list(held):
                    group = refs.resolve(value, SECURITY_GROUP)
                    if group is not None and node.id not in users.setdefault(group.urn, []):
                        users[group.urn].append(node.id)
    return users


def add_security_group_edges(b: Builder) -> None:
    """One edge per ingress rule, from the parts of the peer group (or the prefix list or
    CIDR) to the parts of the rule's group. ``aws_security_group`` removes the allow-all egress
    rule AWS creates with a group (Terraform AWS provider docs, resource
    ``aws_security_group``), so an edge between two groups also needs an egress rule on the
    source's group; the label says when it has none. Egress rules to a prefix list or CIDR
    are drawn from the parts of their group."""
    refs, users = b.refs, _group_users(b)
    egress = [
        (refs.resolve(r.inputs.get("securityGroupId"), SECURITY_GROUP), r) for r in refs.of_type(EGRESS_RULE)
    ]
    for rule in refs.of_type(INGRESS_RULE):
        group = refs.resolve(rule.inputs.get("securityGroupId"), SECURITY_GROUP)
        if group is None:
            continue
        peer = refs.resolve(rule.inputs.get("referencedSecurityGroupId"), SECURITY_GROUP)
        label = f"SG {_ports(rule)}"
        urns = [rule.urn]
        if peer is None:
            sources = [s for s in [_external_source(b, rule)] if s]
        else:
            sources = users.get(peer.urn, [])
            out = [
                e
                for owner, e in egress
                if owner == peer
                and refs.resolve(e.inputs.get("referencedSecurityGroupId"), SECURITY_GROUP) == group
                and _covers(e, rule)
            ]
            urns += [e.urn for e in out]
            if not out:
                label += " (no egress rule)"
        for source in sources:
            for target in users.get(group.urn, []):
                b.edge(source, target, "sg", label, urns)
    for group, rule in egress:
        if group is None or rule.inputs.get("referencedSecurityGroupId"):
            continue
        outside = _external_source(b, rule)
        for source in users.get(group.urn, []):
            b.edge(source, outside, "sg", f"SG out {_ports(rule)}", [rule.urn])


def _dependency_closure(refs: References, urns: Iterable[str], stop: Iterable[str] = ()) -> set[str]:
    seen: set[str] = set()
    pending = list(urns)
    stopped = set(stop)
    while pending:
        current = refs.by_urn.get(pending.pop())
        for dep in current.dependencies if current else []:
            if dep not in seen and dep not in stopped:
                seen.add(dep)
                pending.append(dep)
    return seen


def add_request_path(b: Builder) -> None:
    refs = b.refs
    for dist in refs.of_type(DISTRIBUTION):
        if dist.inputs.get("enabled") is False:
            continue
        behaviour = dist.inputs.get("defaultCacheBehavior") or {}
        viewers = f"viewers: {behaviour.get('viewerProtocolPolicy', '')}"
        b.edge("internet", b.owner(dist), "path", viewers, [dist.urn])
        acl = refs.resolve(dist.inputs.get("webAclId"), WEB_ACL)
        b.edge(b.owner(acl), b.owner(dist), "attached", "inspects requests", [dist.urn])
        for origin in dist.inputs.get("origins") or []:
            domain = str(origin.get("domainName", ""))
            # The origin is a load balancer's DNS name, or a Route 53 alias record to it.
            targets = [domain] + [
                str(alias.get("name", ""))
                for record in refs.of_type(RECORD)
                if str(record.inputs.get("name", "")).rstrip(".") == domain.rstrip(".")
                for alias in record.inputs.get("aliases") or []
            ]
            for target in targets:
                lb = next((x for t in LOAD_BALANCERS if (x := refs.resolve(target, t))), None)
                config = origin.get("customOriginConfig") or {}
                label = f"origin: {config.get('originProtocolPolicy', '')} :{config.get('httpsPort', '')}"
                b.edge(b.owner(dist), b.owner(lb), "path", label, [dist.urn])
    data = {r.urn for r in refs.of_type(DOCDB_CLUSTER, REDIS)}
    for service in refs.of_type(ECS_SERVICE):
        for attachment in service.inputs.get("loadBalancers") or []:
            group = refs.resolve(attachment.get("targetGroupArn"), TARGET_GROUP)
            label = f"target group :{attachment.get('containerPort', '')}"
            b.edge(b.owner(group), b.owner(service), "path", label, [service.urn])
        # The data stores the service reaches: its task definition's endpoint and secrets
        # depend on them (the URI secret's value is written from the cluster's endpoint).
        node = b.owner(service)
        members = b.nodes[node].urns if node else [service.urn]
        # Another service it starts after (the worker after the API) is no path to that
        # service's data stores.
        others = {s.urn for s in refs.of_type(ECS_SERVICE)} - set(members)
        for urn in sorted(_dependency_closure(refs, members, others) & data):
            store = refs.by_urn[urn]
            label = f"{store.inputs.get('engine', '')} :{store.inputs.get('port', '')}"
            b.edge(node, b.owners.get(urn), "path", label, [service.urn])


def _node_for_secret(b: Builder, secret: Recorded) -> str:
    owner = b.owner(secret)
    if owner is None:
        owner = b.add(
            Node(
                slug(secret.name),
                f"secret<br/>{secret.inputs.get('name', secret.name)}",
                "secret",
                urns=[secret.urn],
            )
        ).id
    return owner


def add_reads(b: Builder) -> None:
    refs = b.refs
    for task in refs.of_type(TASK_DEFINITION):
        reader = b.owner(task)
        for arn in container_secrets(task):
            secret = refs.secret(arn)
            if reader and secret is not None:
                b.edge(reader, _node_for_secret(b, secret), "reads", "secret", [task.urn])
    aliases = {
        key.urn: str(alias.inputs.get("name", ""))
        for alias in refs.of_type(KMS_ALIAS)
        if (key := refs.resolve(alias.inputs.get("targetKeyId"), KMS_KEY))
    }
    for node in sorted(b.nodes.values(), key=lambda n: n.id):
        for urn in node.urns:
            resource = refs.by_urn[urn]
            for key_input in KMS_INPUTS:
                key = refs.resolve(resource.inputs.get(key_input), KMS_KEY)
                if key is None:
                    continue
                if b.owner(key) is None:
                    b.add(
                        Node(
                            slug(key.name),
                            f"KMS key<br/>{aliases.get(key.urn, key.name)}",
                            "key",
                            urns=[key.urn],
                        )
                    )
                b.edge(node.id, b.owner(key), "reads", "KMS", [urn])


def _watched(b: Builder, alarm: Recorded) -> str | None:
    """The part an alarm watches: the one its dependencies name (a metric's dimensions read
    the part's outputs), else the one a dimension value names (a name typed as a string)."""
    counts: dict[str, int] = {}
    for dep in alarm.dependencies:
        owner = b.owners.get(dep)
        if owner and b.nodes[owner].kind == "part":
            counts[owner] = counts.get(owner, 0) + 1
    if counts:
        return sorted(counts, key=lambda n: (-counts[n], n))[0]
    values = set(strings(alarm.inputs.get("dimensions") or {}))
    for query in alarm.inputs.get("metricQueries") or []:
        values |= set(strings(((query.get("metricStat") or {}).get("metric") or {}).get("dimensions") or {}))
    for node in sorted(b.nodes.values(), key=lambda n: n.id):
        for urn in node.urns if node.kind == "part" else []:
            names = {v for v in b.refs.by_urn[urn].inputs.values() if isinstance(v, str)}
            if values & names:
                return node.id
    return None


def add_alarms(b: Builder) -> None:
    groups: dict[str | None, list[Recorded]] = {}
    for alarm in b.refs.of_type(ALARM):
        groups.setdefault(_watched(b, alarm), []).append(alarm)
    for part, alarms in sorted(groups.items(), key=lambda item: item[0] or ""):
        names = sorted(str(a.inputs.get("name", a.name)) for a in alarms)
        shown = ", ".join(names[:ALARM_NAMES_SHOWN])
        more = f" +{len(names) - ALARM_NAMES_SHOWN} more" if len(names) > ALARM_NAMES_SHOWN else ""
        tier = b.nodes[part].tier if part else None
        node = b.add(
            Node(
                f"alarms_{part or 'unplaced'}",
                f"{len(alarms)} alarm{'s' if len(alarms) > 1 else ''}<br/>{shown}{more}",
                "alarms",
                tier,
                urns=[a.urn for a in alarms],
            )
        )
        b.edge(node.id, part, "watches", "watches", [a.urn for a in alarms])

"""The parts of the diagram: edge, load balancer, service, data stores, endpoints, subnets and NAT
gateways per AZ, each placed in the tier its subnets' routes give it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from notes_platform.graph.diagram_model import (
    CACHE_SUBNET_GROUP,
    DISTRIBUTION,
    DOCDB_CLUSTER,
    DOCDB_INSTANCE,
    DOCDB_SUBNET_GROUP,
    ECS_CLUSTER,
    ECS_SERVICE,
    INTERNET_GATEWAY,
    LAMBDA_FUNCTION,
    LISTENER,
    LISTENER_RULE,
    LOAD_BALANCERS,
    NAT_GATEWAY,
    REDIS,
    ROUTE,
    ROUTE_TABLE,
    ROUTE_TABLE_ASSOCIATION,
    SQS_QUEUE,
    SUBNET,
    TARGET_GROUP,
    TASK_DEFINITION,
    VPC_ENDPOINT,
    WEB_ACL,
    Builder,
    Node,
    References,
    as_list,
    slug,
)


def subnet_tiers(refs: References) -> dict[str, str]:
    """Subnet URN -> tier, from the default route of its route table: to an internet gateway
    (public), to a NAT gateway (private), none (isolated)."""
    table_tier: dict[str, str] = {}
    for route in refs.of_type(ROUTE):
        if route.inputs.get("destinationCidrBlock") != "0.0.0.0/0":
            continue
        table = refs.resolve(route.inputs.get("routeTableId"), ROUTE_TABLE)
        if table is None:
            continue
        if refs.resolve(route.inputs.get("gatewayId"), INTERNET_GATEWAY):
            table_tier[table.urn] = "public"
        elif refs.resolve(route.inputs.get("natGatewayId"), NAT_GATEWAY):
            table_tier.setdefault(table.urn, "private")
    tiers = {s.urn: "isolated" for s in refs.of_type(SUBNET)}
    for association in refs.of_type(ROUTE_TABLE_ASSOCIATION):
        subnet = refs.resolve(association.inputs.get("subnetId"), SUBNET)
        table = refs.resolve(association.inputs.get("routeTableId"), ROUTE_TABLE)
        if subnet is not None and table is not None:
            tiers[subnet.urn] = table_tier.get(table.urn, "isolated")
    return tiers


def _tier_of(refs: References, tiers: Mapping[str, str], subnet_ids: Iterable[str]) -> str | None:
    found = {tiers.get(s.urn) for s in (refs.resolve(i, SUBNET) for i in subnet_ids) if s is not None}
    found.discard(None)
    return next(iter(found)) if len(found) == 1 else None


def add_network(b: Builder, tiers: Mapping[str, str]) -> None:
    refs = b.refs
    for subnet in refs.of_type(SUBNET):
        cidr = subnet.inputs.get("cidrBlock", "")
        tier = tiers[subnet.urn]
        b.add(
            Node(
                slug(subnet.name),
                f"{tier} subnet<br/>{cidr}",
                "subnet",
                tier,
                subnet.inputs.get("availabilityZone"),
                [subnet.urn],
            )
        )
    for nat in refs.of_type(NAT_GATEWAY):
        host = refs.resolve(nat.inputs.get("subnetId"), SUBNET)
        nat_tier = tiers.get(host.urn) if host else None
        az = host.inputs.get("availabilityZone") if host else None
        node = b.add(Node(slug(nat.name), "NAT gateway", "nat", nat_tier, az, [nat.urn]))
        b.edge(b.owner(host), node.id, "route", "hosts", [nat.urn])
    # Private subnets -> the NAT gateway their default route goes to (staging's one NAT gateway
    # serves every AZ; prod has one per AZ).
    table_nat: dict[str, tuple[str, str]] = {}
    for route in refs.of_type(ROUTE):
        routed = refs.resolve(route.inputs.get("routeTableId"), ROUTE_TABLE)
        target = refs.resolve(route.inputs.get("natGatewayId"), NAT_GATEWAY)
        if routed is not None and target is not None:
            table_nat[routed.urn] = (target.urn, route.urn)
    for association in refs.of_type(ROUTE_TABLE_ASSOCIATION):
        member = refs.resolve(association.inputs.get("subnetId"), SUBNET)
        table = refs.resolve(association.inputs.get("routeTableId"), ROUTE_TABLE)
        if member is not None and table is not None and table.urn in table_nat:
            nat_urn, route_urn = table_nat[table.urn]
            b.edge(b.owner(member), b.owners.get(nat_urn), "route", "0.0.0.0/0", [route_urn])


def add_parts(b: Builder, tiers: Mapping[str, str]) -> None:
    refs = b.refs
    for acl in refs.of_type(WEB_ACL):
        rules = len(acl.inputs.get("rules") or [])
        b.add(
            Node(
                slug(acl.name),
                f"WAF web ACL<br/>{acl.inputs.get('name', acl.name)}: {rules} rules",
                "part",
                "edge",
                None,
                [acl.urn],
            )
        )
    for dist in refs.of_type(DISTRIBUTION):
        aliases = ", ".join(as_list(dist.inputs.get("aliases")))
        b.add(Node(slug(dist.name), f"CloudFront<br/>{aliases}", "part", "edge", None, [dist.urn]))
    for lb in refs.of_type(*LOAD_BALANCERS):
        listeners = [
            r for r in refs.of_type(LISTENER) if refs.resolve(r.inputs.get("loadBalancerArn"), lb.type)
        ]
        ports = "/".join(
            str(r.inputs.get("port")) for r in sorted(listeners, key=lambda r: r.inputs.get("port", 0))
        )
        scheme = "internal" if lb.inputs.get("internal") else "internet-facing"
        members = [lb.urn, *(r.urn for r in listeners)]
        members += [r.urn for r in refs.of_type(LISTENER_RULE, TARGET_GROUP) if r.parent == lb.parent]
        tier = _tier_of(refs, tiers, as_list(lb.inputs.get("subnets")))
        b.add(
            Node(
                slug(lb.name),
                f"ALB {lb.inputs.get('name', lb.name)}<br/>{scheme}, listeners {ports}",
                "part",
                tier,
                None,
                members,
            )
        )
    for service in refs.of_type(ECS_SERVICE):
        network = service.inputs.get("networkConfiguration") or {}
        task = refs.resolve(service.inputs.get("taskDefinition"), TASK_DEFINITION)
        cluster = refs.resolve(service.inputs.get("cluster"), ECS_CLUSTER)
        members = [service.urn, *(r.urn for r in (task, cluster) if r is not None)]
        count = service.inputs.get("desiredCount", "?")
        label = f"ECS service {service.inputs.get('name', service.name)}<br/>{count} tasks"
        b.add(
            Node(
                slug(service.name),
                label,
                "part",
                _tier_of(refs, tiers, as_list(network.get("subnets"))),
                None,
                members,
            )
        )
    for cluster in refs.of_type(DOCDB_CLUSTER):
        instances = [
            i
            for i in refs.of_type(DOCDB_INSTANCE)
            if refs.resolve(i.inputs.get("clusterIdentifier"), DOCDB_CLUSTER) == cluster
        ]
        classes = ", ".join(sorted({str(i.inputs.get("instanceClass")) for i in instances}))
        group = refs.resolve(cluster.inputs.get("dbSubnetGroupName"), DOCDB_SUBNET_GROUP)
        tier = _tier_of(refs, tiers, as_list(group.inputs.get("subnetIds"))) if group else None
        identifier = cluster.inputs.get("clusterIdentifier", cluster.name)
        label = f"DocumentDB {identifier}<br/>{len(instances)} x {classes}"
        b.add(Node(slug(cluster.name), label, "part", tier, None, [cluster.urn, *(i.urn for i in instances)]))
    for redis in refs.of_type(REDIS):
        group = refs.resolve(redis.inputs.get("subnetGroupName"), CACHE_SUBNET_GROUP)
        tier = _tier_of(refs, tiers, as_list(group.inputs.get("subnetIds"))) if group else None
        nodes = redis.inputs.get("numCacheClusters", "?")
        identifier = redis.inputs.get("replicationGroupId", redis.name)
        label = f"Redis {identifier}<br/>{nodes} x {redis.inputs.get('nodeType')}"
        b.add(Node(slug(redis.name), label, "part", tier, None, [redis.urn]))
    for function in refs.of_type(LAMBDA_FUNCTION):
        # The rotation functions: in the private subnets, watched by their Errors alarms.
        vpc = function.inputs.get("vpcConfig") or {}
        name, runtime = function.inputs.get("name", function.name), function.inputs.get("runtime", "")
        label = f"Lambda {name}<br/>{runtime}"
        tier = _tier_of(refs, tiers, as_list(vpc.get("subnetIds")))
        b.add(Node(slug(function.name), label, "part", tier, None, [function.urn]))
    for queue in refs.of_type(SQS_QUEUE):
        # The export jobs and their dead letters, watched by the worker's queue alarms.
        b.add(
            Node(
                slug(queue.name),
                f"SQS {queue.inputs.get('name', queue.name)}",
                "part",
                None,
                None,
                [queue.urn],
            )
        )
    endpoints = refs.of_type(VPC_ENDPOINT)
    if endpoints:
        # com.amazonaws.<region>.<service>: the service is everything after the region.
        services = sorted(str(e.inputs.get("serviceName", "")).split(".", 3)[-1] for e in endpoints)
        tier = _tier_of(refs, tiers, [i for e in endpoints for i in as_list(e.inputs.get("subnetIds"))])
        b.add(
            Node(
                "vpc_endpoints",
                "VPC endpoints<br/>" + ", ".join(services),
                "part",
                tier,
                None,
                [e.urn for e in endpoints],
            )
        )

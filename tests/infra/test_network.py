"""Network: three tiers per AZ, NAT per mode, no way out of the data tier, endpoints, flow logs."""

from __future__ import annotations

import ipaddress
import json
from typing import Any

import pytest

from infra.network import AZ_SLOTS, TIERS, Network, NetworkArgs, subnet_cidrs
from notes_platform.graph.mocks import ACCOUNT_ID, Recorded
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    DEFAULT_SECURITY_GROUP,
    EGRESS_RULE,
    EIP,
    FLOW_LOG,
    IAM_ROLE,
    IAM_ROLE_POLICY,
    INGRESS_RULE,
    INTERNET_GATEWAY,
    LOG_GROUP,
    NAT_GATEWAY,
    ROUTE,
    ROUTE_TABLE,
    ROUTE_TABLE_ASSOCIATION,
    SECURITY_GROUP,
    SUBNET,
    VPC,
    VPC_ENDPOINT,
)

REGION = "eu-west-1"
ZONES = ("eu-west-1a", "eu-west-1b", "eu-west-1c")
LOGS_KEY = f"arn:aws:kms:{REGION}:{ACCOUNT_ID}:key/11111111-2222-4333-8444-555555555555"
PRIVATE_NEEDS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")


def _args(**overrides: Any) -> NetworkArgs:
    values: dict[str, Any] = {
        "environment": "prod",
        "cidr": "10.30.0.0/16",
        "availability_zones": ZONES,
        "nat_gateways": "perAz",
        "interface_endpoints": (*PRIVATE_NEEDS, "sts", "kms"),
        "s3_gateway_endpoint": True,
        "flow_log_retention_days": 365,
        "logs_kms_key_arn": LOGS_KEY,
        "region": REGION,
    }
    return NetworkArgs(**{**values, **overrides})


def _build(name: str, args: NetworkArgs) -> Graph:
    def program() -> Any:
        network = Network(name, args)
        return {
            "vpc_id": network.vpc_id,
            "public": network.public_subnet_ids,
            "private": network.private_subnet_ids,
            "isolated": network.isolated_subnet_ids,
            "flow_log_group_name": network.flow_log_group_name,
        }

    return run(program, region=REGION)


@pytest.fixture(scope="module")
def per_az() -> Graph:
    return _build("prod-network", _args())


@pytest.fixture(scope="module")
def single() -> Graph:
    return _build(
        "staging-network",
        _args(
            environment="staging",
            cidr="10.20.0.0/16",
            availability_zones=ZONES[:2],
            nat_gateways="single",
            interface_endpoints=PRIVATE_NEEDS,
        ),
    )


@pytest.fixture(scope="module")
def no_nat() -> Graph:
    return _build(
        "dev-network",
        _args(
            environment="dev",
            availability_zones=ZONES[:2],
            nat_gateways="none",
            interface_endpoints=PRIVATE_NEEDS,
        ),
    )


@pytest.fixture(scope="module")
def bare() -> Graph:
    return _build(
        "bare-network", _args(environment="bare", interface_endpoints=(), s3_gateway_endpoint=False)
    )


@pytest.fixture(params=["per_az", "single", "no_nat", "bare"])
def any_graph(request: pytest.FixtureRequest) -> Graph:
    graph: Graph = request.getfixturevalue(request.param)
    return graph


def _by_urn(graph: Graph) -> dict[str, Recorded]:
    return {r.urn: r for r in graph.resources}


def _dep(resource: Recorded, prop: str) -> str:
    (urn,) = resource.property_dependencies.get(prop, [None])
    assert urn, f"{resource.urn}: {prop} depends on no resource"
    return str(urn)


def _tier(subnet: Recorded) -> str:
    return next(t for t in TIERS if f"-{t}-" in subnet.name)


def _table_of_subnet(graph: Graph) -> dict[str, list[str]]:
    tables: dict[str, list[str]] = {}
    for association in graph.of_type(ROUTE_TABLE_ASSOCIATION):
        tables.setdefault(_dep(association, "subnetId"), []).append(_dep(association, "routeTableId"))
    return tables


def _routes_of(graph: Graph, table_urn: str) -> list[Recorded]:
    return [r for r in graph.of_type(ROUTE) if _dep(r, "routeTableId") == table_urn]


def _tables(graph: Graph, tier: str) -> list[Recorded]:
    return [t for t in graph.of_type(ROUTE_TABLE) if f"-{tier}-rt" in t.name]


# --- VPC and subnets -------------------------------------------------------------------------


def test_vpc_has_dns_support_and_hostnames(per_az: Graph) -> None:
    # GIVEN perAz args / WHEN built / THEN the VPC resolves names (private endpoint DNS needs both)
    vpc = per_az.one(VPC)
    assert vpc.inputs["cidrBlock"] == "10.30.0.0/16", vpc.urn
    assert vpc.inputs.get("enableDnsSupport") is True, vpc.urn
    assert vpc.inputs.get("enableDnsHostnames") is True, vpc.urn
    assert vpc.inputs.get("tags", {}).get("Name") == "notes-prod-vpc", vpc.urn


def test_one_subnet_per_tier_and_az_and_none_maps_public_ips(any_graph: Graph) -> None:
    # GIVEN any mode / WHEN built / THEN tiers x AZs subnets, no public IP on launch anywhere
    subnets = any_graph.of_type(SUBNET)
    zones = sorted({s.inputs["availabilityZone"] for s in subnets})
    cells = sorted((_tier(s), s.inputs["availabilityZone"]) for s in subnets)
    assert cells == sorted((t, z) for t in TIERS for z in zones), [s.urn for s in subnets]
    for subnet in subnets:
        assert subnet.inputs.get("mapPublicIpOnLaunch") is False, f"{subnet.urn} maps public IPs"
        assert subnet.inputs.get("tags", {}).get("Name"), f"{subnet.urn} has no Name tag"


def test_subnet_cidrs_are_disjoint_quarters_inside_the_vpc(per_az: Graph) -> None:
    # GIVEN a /16 / WHEN built / THEN each tier fills its own quarter with /21s, AZ by AZ
    vpc = ipaddress.IPv4Network(per_az.one(VPC).inputs["cidrBlock"])
    subnets = per_az.of_type(SUBNET)
    networks = {s.urn: ipaddress.IPv4Network(s.inputs["cidrBlock"]) for s in subnets}
    for urn, net in networks.items():
        assert net.subnet_of(vpc), f"{urn}: {net} outside {vpc}"
        assert net.prefixlen == 21, f"{urn}: {net}"
    pairs = [(a, b) for a in networks for b in networks if a < b]
    assert not [(a, b) for a, b in pairs if networks[a].overlaps(networks[b])]
    by_cell = {(_tier(s), s.inputs["availabilityZone"]): s.inputs["cidrBlock"] for s in subnets}
    assert by_cell[("public", "eu-west-1a")] == "10.30.0.0/21"
    assert by_cell[("public", "eu-west-1c")] == "10.30.16.0/21"
    assert by_cell[("private", "eu-west-1a")] == "10.30.64.0/21"
    assert by_cell[("isolated", "eu-west-1b")] == "10.30.136.0/21"


def test_adding_an_az_renumbers_no_existing_subnet() -> None:
    # GIVEN the layout for 2 AZs / WHEN a third AZ joins / THEN the first two keep their CIDRs
    two, three = subnet_cidrs("10.20.0.0/20", 2), subnet_cidrs("10.20.0.0/20", 3)
    for tier in TIERS:
        assert three[tier][:2] == two[tier], tier
    full = subnet_cidrs("10.20.0.0/20", AZ_SLOTS)
    assert all(ipaddress.IPv4Network(c).prefixlen == 25 for tier in TIERS for c in full[tier])


# --- Routing ------------------------------------------------------------------------------------


def test_every_subnet_has_exactly_one_explicit_route_table_of_its_tier(any_graph: Graph) -> None:
    # GIVEN any mode / WHEN built / THEN no subnet falls back to the VPC's main route table
    by_urn = _by_urn(any_graph)
    tables = _table_of_subnet(any_graph)
    for subnet in any_graph.of_type(SUBNET):
        assert len(tables.get(subnet.urn, [])) == 1, f"{subnet.urn}: route tables {tables.get(subnet.urn)}"
        table = by_urn[tables[subnet.urn][0]]
        assert f"-{_tier(subnet)}-rt" in table.name, f"{subnet.urn} uses {table.urn}"


def test_public_tier_routes_to_the_internet_gateway(per_az: Graph) -> None:
    # GIVEN perAz / WHEN built / THEN the public table's default route is the internet gateway
    (table,) = _tables(per_az, "public")
    (route,) = _routes_of(per_az, table.urn)
    assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0", route.urn
    assert _dep(route, "gatewayId") == per_az.one(INTERNET_GATEWAY).urn, route.urn


@pytest.mark.parametrize(("fixture", "expected"), [("per_az", 3), ("single", 1), ("no_nat", 0)])
def test_nat_gateway_count_follows_the_mode(
    request: pytest.FixtureRequest, fixture: str, expected: int
) -> None:
    # GIVEN nat_gateways perAz (3 AZs) / single / none / WHEN built / THEN 3 / 1 / 0 NATs, an EIP each
    graph: Graph = request.getfixturevalue(fixture)
    nats, eips = graph.of_type(NAT_GATEWAY), graph.of_type(EIP)
    assert len(nats) == expected, [n.urn for n in nats]
    assert len(eips) == expected, [e.urn for e in eips]
    by_urn = _by_urn(graph)
    igw = graph.one(INTERNET_GATEWAY).urn
    for nat in nats:
        assert by_urn[_dep(nat, "allocationId")].type == EIP, nat.urn
        subnet = by_urn[_dep(nat, "subnetId")]
        assert _tier(subnet) == "public", f"{nat.urn} sits in {subnet.urn}"
        assert igw in nat.dependencies, f"{nat.urn} does not wait for the internet gateway"


def test_nat_gateways_and_their_eips_wait_for_the_route_to_the_internet_gateway(any_graph: Graph) -> None:
    # GIVEN any NAT mode / WHEN built
    (table,) = _tables(any_graph, "public")
    (route,) = _routes_of(any_graph, table.urn)
    public = [
        a.urn for a in any_graph.of_type(ROUTE_TABLE_ASSOCIATION) if _dep(a, "routeTableId") == table.urn
    ]
    needed = {any_graph.one(INTERNET_GATEWAY).urn, route.urn, *public}
    # THEN each NAT gateway and its EIP come only after the gateway, the public route and the
    # public subnets' associations: a NAT that exists earlier has no way out
    for resource in [*any_graph.of_type(NAT_GATEWAY), *any_graph.of_type(EIP)]:
        missing = sorted(needed - set(resource.dependencies))
        assert not missing, f"{resource.urn} does not wait for {missing}"


def test_internet_access_lists_what_makes_the_public_subnets_public() -> None:
    # GIVEN a network whose internet access a load balancer will wait for
    def program() -> Any:
        network = Network("ia-network", _args(environment="ia", nat_gateways="single"))
        return [resource.urn for resource in network.internet_access]

    graph = run(program)
    (table,) = _tables(graph, "public")
    (route,) = _routes_of(graph, table.urn)
    public = [a.urn for a in graph.of_type(ROUTE_TABLE_ASSOCIATION) if _dep(a, "routeTableId") == table.urn]
    # THEN it holds the internet gateway, the default route to it and one association per public subnet
    assert sorted(graph.result) == sorted([graph.one(INTERNET_GATEWAY).urn, route.urn, *public])
    assert len(public) == len(ZONES), public


def test_per_az_private_tables_route_to_the_nat_of_their_own_az(per_az: Graph) -> None:
    # GIVEN perAz / WHEN built / THEN private table of AZ x sends 0.0.0.0/0 to the NAT in AZ x
    by_urn = _by_urn(per_az)
    tables = _tables(per_az, "private")
    assert len(tables) == len(ZONES)
    for table in tables:
        (route,) = _routes_of(per_az, table.urn)
        nat = by_urn[_dep(route, "natGatewayId")]
        nat_subnet = by_urn[_dep(nat, "subnetId")]
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0", route.urn
        assert table.name.endswith(nat_subnet.inputs["availabilityZone"]), f"{table.urn} -> {nat.urn}"


def test_single_nat_serves_every_private_table(single: Graph) -> None:
    # GIVEN nat_gateways single over 2 AZs / WHEN built / THEN both private tables use the one NAT
    nat = single.one(NAT_GATEWAY)
    for table in _tables(single, "private"):
        (route,) = _routes_of(single, table.urn)
        assert _dep(route, "natGatewayId") == nat.urn, route.urn
        assert route.inputs["destinationCidrBlock"] == "0.0.0.0/0", route.urn


def test_without_nat_private_tables_have_no_default_route(no_nat: Graph) -> None:
    # GIVEN nat_gateways none / WHEN built / THEN private tables route nowhere outside the VPC
    for table in _tables(no_nat, "private"):
        assert _routes_of(no_nat, table.urn) == [], table.urn
        assert not table.inputs.get("routes"), table.urn


def test_isolated_tier_has_no_route_to_the_internet(any_graph: Graph) -> None:
    # GIVEN any mode / WHEN built / THEN the isolated table has no route at all (S3 endpoint aside)
    (table,) = _tables(any_graph, "isolated")
    assert _routes_of(any_graph, table.urn) == [], f"{table.urn} has routes"
    assert not table.inputs.get("routes"), f"{table.urn} has inline routes"
    default_routes = [
        r for r in any_graph.of_type(ROUTE) if r.inputs.get("destinationCidrBlock") == "0.0.0.0/0"
    ]
    assert all(_dep(r, "routeTableId") != table.urn for r in default_routes)


# --- Endpoints ----------------------------------------------------------------------------------


def test_s3_gateway_endpoint_serves_private_and_isolated_tables_only(per_az: Graph) -> None:
    # GIVEN s3_gateway_endpoint / WHEN built / THEN the endpoint is on the private + isolated tables
    endpoint = per_az.one(VPC_ENDPOINT, "prod-network-endpoint-s3")
    assert endpoint.inputs["serviceName"] == f"com.amazonaws.{REGION}.s3", endpoint.urn
    assert endpoint.inputs["vpcEndpointType"] == "Gateway", endpoint.urn
    expected = sorted(t.urn for t in [*_tables(per_az, "private"), *_tables(per_az, "isolated")])
    assert sorted(endpoint.property_dependencies["routeTableIds"]) == expected, endpoint.urn


def test_interface_endpoints_in_private_subnets_with_private_dns(per_az: Graph) -> None:
    # GIVEN six interface endpoints / WHEN built / THEN each is in every private subnet, private DNS on
    endpoints = {
        e.inputs["serviceName"]: e
        for e in per_az.of_type(VPC_ENDPOINT)
        if e.inputs["vpcEndpointType"] == "Interface"
    }
    services = ("ecr.api", "ecr.dkr", "logs", "secretsmanager", "sts", "kms")
    assert sorted(endpoints) == sorted(f"com.amazonaws.{REGION}.{s}" for s in services)
    private = sorted(s.urn for s in per_az.of_type(SUBNET) if _tier(s) == "private")
    group = per_az.one(SECURITY_GROUP).urn
    for endpoint in endpoints.values():
        assert endpoint.inputs.get("privateDnsEnabled") is True, endpoint.urn
        assert sorted(endpoint.property_dependencies["subnetIds"]) == private, endpoint.urn
        assert endpoint.property_dependencies["securityGroupIds"] == [group], endpoint.urn


def test_endpoint_security_group_admits_only_https_from_the_vpc(per_az: Graph) -> None:
    # GIVEN interface endpoints / WHEN built / THEN their group admits 443 from the VPC CIDR, nothing else
    group = per_az.one(SECURITY_GROUP)
    assert group.inputs["namePrefix"] == "notes-prod-vpc-endpoints-", group.urn
    assert not group.inputs.get("ingress") and not group.inputs.get("egress"), f"{group.urn} has inline rules"
    (rule,) = per_az.of_type(INGRESS_RULE)
    assert _dep(rule, "securityGroupId") == group.urn, rule.urn
    wanted = {"ipProtocol": "tcp", "fromPort": 443, "toPort": 443, "cidrIpv4": "10.30.0.0/16"}
    assert {k: rule.inputs.get(k) for k in wanted} == wanted, rule.urn
    assert rule.inputs.get("description"), rule.urn
    assert per_az.of_type(EGRESS_RULE) == []


def test_without_endpoints_there_is_no_endpoint_or_endpoint_group(bare: Graph) -> None:
    # GIVEN no interface endpoints and no S3 endpoint / WHEN built / THEN none of either, no group
    assert bare.of_type(VPC_ENDPOINT) == []
    assert bare.of_type(SECURITY_GROUP) == []
    assert bare.of_type(INGRESS_RULE) == []


# --- Default security group, flow logs ---------------------------------------------------------


def test_default_security_group_is_emptied_and_default_nacl_left_alone(any_graph: Graph) -> None:
    # GIVEN any mode / WHEN built / THEN the VPC's default group is adopted with no rules at all
    group = any_graph.one(DEFAULT_SECURITY_GROUP)
    assert _dep(group, "vpcId") == any_graph.one(VPC).urn, group.urn
    assert group.inputs.get("ingress", []) == [], group.urn
    assert group.inputs.get("egress", []) == [], group.urn
    assert any_graph.of_type("aws:ec2/defaultNetworkAcl:DefaultNetworkAcl") == []


def test_flow_log_captures_all_traffic_into_an_encrypted_group_with_retention(per_az: Graph) -> None:
    # GIVEN retention 365 and the logs key / WHEN built / THEN ALL traffic goes to that KMS group
    flow_log = per_az.one(FLOW_LOG)
    group = per_az.one(LOG_GROUP)
    assert flow_log.inputs["trafficType"] == "ALL", flow_log.urn
    assert flow_log.inputs["logDestinationType"] == "cloud-watch-logs", flow_log.urn
    assert _dep(flow_log, "logDestination") == group.urn, flow_log.urn
    assert _dep(flow_log, "vpcId") == per_az.one(VPC).urn, flow_log.urn
    assert _dep(flow_log, "iamRoleArn") == per_az.one(IAM_ROLE).urn, flow_log.urn
    assert per_az.one(IAM_ROLE_POLICY).urn in flow_log.dependencies, (
        f"{flow_log.urn} may start before its policy"
    )
    assert group.inputs["kmsKeyId"] == LOGS_KEY, group.urn
    assert group.inputs["retentionInDays"] == 365, group.urn
    assert group.inputs["name"] == "/notes/prod/vpc-flow-logs", group.urn
    assert per_az.result["flow_log_group_name"] == "/notes/prod/vpc-flow-logs"


def test_flow_log_role_is_trusted_by_flow_logs_of_this_account_only(per_az: Graph) -> None:
    # GIVEN the flow log role / WHEN built / THEN only vpc-flow-logs of this account may assume it
    role = per_az.one(IAM_ROLE)
    assert role.inputs["name"] == "notes-prod-vpc-flow-logs", role.urn
    (statement,) = json.loads(role.inputs["assumeRolePolicy"])["Statement"]
    assert statement["Principal"] == {"Service": "vpc-flow-logs.amazonaws.com"}, role.urn
    assert (statement["Effect"], statement["Action"]) == ("Allow", "sts:AssumeRole"), role.urn
    assert statement["Condition"] == {
        "StringEquals": {"aws:SourceAccount": ACCOUNT_ID},
        "ArnLike": {"aws:SourceArn": f"arn:aws:ec2:{REGION}:{ACCOUNT_ID}:vpc-flow-log/*"},
    }, f"{role.urn}: {statement['Condition']}"


def test_flow_log_role_writes_only_to_its_log_group(per_az: Graph) -> None:
    # GIVEN the flow log role's policy / WHEN built / THEN every write names the flow log group
    policy = per_az.one(IAM_ROLE_POLICY)
    assert _dep(policy, "role") == per_az.one(IAM_ROLE).urn, policy.urn
    group_arn = f"arn:aws:logs:{REGION}:{ACCOUNT_ID}:log-group:/notes/prod/vpc-flow-logs"
    for statement in json.loads(policy.inputs["policy"])["Statement"]:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = (
            statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        )
        assert "*" not in resources, f"{policy.urn}: {statement}"
        writes = [a for a in actions if a in ("logs:CreateLogStream", "logs:PutLogEvents")]
        if writes:
            assert sorted(resources) == [group_arn, f"{group_arn}:*"], f"{policy.urn}: {statement}"
        assert set(actions) <= {
            "logs:CreateLogStream",
            "logs:PutLogEvents",
            "logs:DescribeLogStreams",
            "logs:DescribeLogGroups",
        }, f"{policy.urn}: {actions}"


# --- Shape --------------------------------------------------------------------------------------


def test_component_shape_children_names_tags_and_outputs(per_az: Graph) -> None:
    # GIVEN perAz / WHEN built / THEN one notes:infra:Network parents everything, names prefixed,
    # console-facing resources tagged with a Name, URNs unique, outputs resolved
    component = per_az.one("notes:infra:Network", "prod-network")
    custom = per_az.custom()
    for resource in custom:
        assert resource.parent == component.urn, f"{resource.urn} is not a child of {component.urn}"
        assert resource.name.startswith("prod-network-"), resource.urn
    named = (
        VPC,
        SUBNET,
        ROUTE_TABLE,
        NAT_GATEWAY,
        EIP,
        INTERNET_GATEWAY,
        VPC_ENDPOINT,
        FLOW_LOG,
        SECURITY_GROUP,
    )
    for resource in [r for r in custom if r.type in named]:
        assert resource.inputs.get("tags", {}).get("Name", "").startswith("notes-prod-"), resource.urn
    urns = [r.urn for r in per_az.resources]
    assert len(urns) == len(set(urns)), "duplicate URNs"
    result = per_az.result
    assert result["vpc_id"].startswith("vpc-")
    assert [len(result[t]) for t in TIERS] == [3, 3, 3]
    assert all(i.startswith("subnet-") for t in TIERS for i in result[t])


# --- Constructor errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"availability_zones": ()}, r"availability_zones is empty"),
        (
            {"availability_zones": ("eu-west-1a", "eu-west-1b", "eu-west-1a")},
            r"lists eu-west-1a more than once",
        ),
        (
            {"availability_zones": tuple(f"z{i}" for i in range(9))},
            r"9 AZs; the address layout has room for 8",
        ),
        ({"cidr": "10.0.0.0/24"}, r"10\.0\.0\.0/24 is too small for 3 tiers x 3 AZs.*use a /23 or larger"),
        ({"cidr": "10.0.0.0/8"}, r"larger than AWS allows"),
        ({"cidr": "10.0.0.1/16"}, r"'10\.0\.0\.1/16' is not an IPv4 network"),
        ({"nat_gateways": "twoPerAz"}, r"nat_gateways='twoPerAz'; use one of single, perAz, none"),
        ({"interface_endpoints": ("logs", "logs")}, r"interface_endpoints lists logs more than once"),
        (
            {"nat_gateways": "none", "interface_endpoints": ("ecr.api", "logs")},
            r"nat_gateways='none'.*add ecr\.dkr, secretsmanager, or choose",
        ),
        (
            {"nat_gateways": "none", "interface_endpoints": PRIVATE_NEEDS, "s3_gateway_endpoint": False},
            r"nat_gateways='none'.*add the S3 gateway endpoint",
        ),
        ({"flow_log_retention_days": 0}, r"flow_log_retention_days must be 1 or more"),
    ],
    ids=[
        "no-azs",
        "duplicate-az",
        "too-many-azs",
        "cidr-too-small",
        "cidr-too-large",
        "cidr-host-bits",
        "unknown-nat-mode",
        "duplicate-endpoint",
        "no-nat-missing-endpoints",
        "no-nat-missing-s3",
        "no-retention",
    ],
)
def test_impossible_input_is_refused_with_what_to_change(overrides: dict[str, Any], message: str) -> None:
    # GIVEN args no VPC can satisfy / WHEN Network is built / THEN ValueError says what to change
    with pytest.raises(ValueError, match=message):
        run(lambda: Network("bad-network", _args(**overrides)), region=REGION)

"""The VPC: public, private (app) and isolated (data) subnets per AZ, NAT, endpoints, flow logs.

Address layout: the VPC CIDR splits into four equal tier blocks (public, private, isolated,
spare) and each block into ``AZ_SLOTS`` equal subnets, slot ``i`` for the ``i``-th AZ. A
subnet's CIDR depends only on its tier and the AZ's position, never on how many AZs there
are: adding an AZ adds subnets and renumbers none (a changed CIDR replaces the subnet, which
fails while the ALB, tasks or databases have interfaces in it).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from dataclasses import dataclass
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

TIERS = ("public", "private", "isolated")
AZ_SLOTS = 8
# Four tier blocks of AZ_SLOTS subnets each: 32 slots, 5 more prefix bits than the VPC.
SLOT_PREFIX_BITS = 5
# AWS's smallest subnet.
MIN_SUBNET_PREFIX = 28
# What a task in a private subnet needs when there is no NAT: pull the image (ECR API, registry
# and its S3 layers), write logs, read its secrets.
NO_NAT_INTERFACE_ENDPOINTS = ("ecr.api", "ecr.dkr", "logs", "secretsmanager")
NAT_MODES = ("single", "perAz", "none")


@dataclass(frozen=True)
class NetworkArgs:
    environment: str
    """Environment name, in AWS names and Name tags. From config `environment`. Required."""
    cidr: str
    """VPC IPv4 CIDR, /16 to /23 (the layout needs 32 subnets of at least /28). From config
    `networkCidr`. Required."""
    availability_zones: tuple[str, ...]
    """AZ names, one subnet per tier in each, at most ``AZ_SLOTS``. From config
    `networkAvailabilityZones` (pinned names: a subnet's CIDR follows its AZ's position).
    Required."""
    logs_kms_key_arn: pulumi.Input[str]
    """KMS key that encrypts the flow log group (its policy must admit CloudWatch Logs). Set by
    the stack from Keys (``logs``). Required."""
    region: str
    """Region of the VPC; names the endpoint services. From config `aws:region`. Required."""
    nat_gateways: Literal["single", "perAz", "none"] = "perAz"
    """NAT for the private tier: one per AZ (default: losing an AZ costs no other AZ its
    egress), one shared (cheaper, one AZ's failure cuts all egress), or none (endpoints only).
    From config `networkNatGateways`."""
    interface_endpoints: tuple[str, ...] = ()
    """Interface endpoint services (``ecr.api``, ``logs``, ...) in the private subnets. From
    config `networkInterfaceEndpoints`. Default none."""
    s3_gateway_endpoint: bool = True
    """S3 gateway endpoint on the private and isolated route tables. From config
    `networkS3GatewayEndpoint`. Default on (free; ECR image layers come from S3)."""
    flow_log_retention_days: int = 90
    """Retention of the VPC flow log group in days. From config `networkFlowLogRetentionDays`.
    Default 90."""


def subnet_cidrs(cidr: str, az_count: int) -> dict[str, list[str]]:
    """CIDR of each tier's subnets, in AZ order (see the module docstring for the layout)."""
    vpc = ipaddress.IPv4Network(cidr)
    slots = list(vpc.subnets(prefixlen_diff=SLOT_PREFIX_BITS))
    return {tier: [str(slots[t * AZ_SLOTS + i]) for i in range(az_count)] for t, tier in enumerate(TIERS)}


def _validate(name: str, args: NetworkArgs) -> None:
    where = f"Network {name}"
    zones = args.availability_zones
    if not zones:
        raise ValueError(f"{where}: availability_zones is empty; give at least one AZ")
    repeated = sorted(zone for zone, count in Counter(zones).items() if count > 1)
    if repeated:
        raise ValueError(
            f"{where}: availability_zones lists {', '.join(repeated)} more than once; "
            "each AZ gets one subnet per tier, so list each AZ once"
        )
    if len(zones) > AZ_SLOTS:
        raise ValueError(f"{where}: {len(zones)} AZs; the address layout has room for {AZ_SLOTS}")
    try:
        vpc = ipaddress.IPv4Network(args.cidr)
    except ValueError as exc:
        raise ValueError(
            f"{where}: cidr {args.cidr!r} is not an IPv4 network like 10.0.0.0/16 ({exc})"
        ) from exc
    if vpc.prefixlen < 16:
        raise ValueError(f"{where}: cidr {args.cidr} is larger than AWS allows for a VPC; use a /16 to /23")
    if vpc.prefixlen + SLOT_PREFIX_BITS > MIN_SUBNET_PREFIX:
        raise ValueError(
            f"{where}: cidr {args.cidr} is too small for {len(TIERS)} tiers x {len(zones)} AZs: "
            f"each tier takes a quarter of the VPC split into {AZ_SLOTS} AZ slots, and an AWS "
            f"subnet is at least a /{MIN_SUBNET_PREFIX}; use a /{MIN_SUBNET_PREFIX - SLOT_PREFIX_BITS} "
            "or larger"
        )
    if args.nat_gateways not in NAT_MODES:
        raise ValueError(f"{where}: nat_gateways={args.nat_gateways!r}; use one of {', '.join(NAT_MODES)}")
    repeated = sorted(svc for svc, count in Counter(args.interface_endpoints).items() if count > 1)
    if repeated:
        raise ValueError(f"{where}: interface_endpoints lists {', '.join(repeated)} more than once")
    if args.nat_gateways == "none":
        missing = [svc for svc in NO_NAT_INTERFACE_ENDPOINTS if svc not in args.interface_endpoints]
        if missing or not args.s3_gateway_endpoint:
            wanted = [*missing, *([] if args.s3_gateway_endpoint else ["the S3 gateway endpoint"])]
            raise ValueError(
                f"{where}: nat_gateways='none' leaves private tasks no way to pull images, write "
                f"logs or read secrets; add {', '.join(wanted)}, or choose nat_gateways 'single' or 'perAz'"
            )
    if args.flow_log_retention_days < 1:
        raise ValueError(f"{where}: flow_log_retention_days must be 1 or more (CloudWatch Logs retention)")


def _name_tag(args: NetworkArgs, role: str) -> dict[str, str]:
    return {"Name": f"notes-{args.environment}-{role}"}


class Network(pulumi.ComponentResource):
    """One VPC with three tiers of subnets per AZ; see ``NetworkArgs`` for the choices."""

    vpc: aws.ec2.Vpc
    vpc_id: pulumi.Output[str]
    internet_gateway: aws.ec2.InternetGateway
    internet_route: aws.ec2.Route
    internet_access: list[pulumi.Resource]
    public_subnet_ids: list[pulumi.Output[str]]
    private_subnet_ids: list[pulumi.Output[str]]
    isolated_subnet_ids: list[pulumi.Output[str]]
    flow_log_group_name: pulumi.Output[str]

    def __init__(self, name: str, args: NetworkArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(name, args)
        super().__init__("notes:infra:Network", name, None, opts)
        self._child = pulumi.ResourceOptions(parent=self)

        self.vpc = aws.ec2.Vpc(
            f"{name}-vpc",
            cidr_block=args.cidr,
            # Private DNS names of the interface endpoints need both.
            enable_dns_support=True,
            enable_dns_hostnames=True,
            tags=_name_tag(args, "vpc"),
            opts=self._child,
        )
        self.vpc_id = self.vpc.id

        # Adopting the default group strips its rules: anything attached to it by accident
        # (no group given) can neither talk nor be talked to.
        self.default_security_group = aws.ec2.DefaultSecurityGroup(
            f"{name}-default-sg",
            vpc_id=self.vpc_id,
            ingress=[],
            egress=[],
            tags=_name_tag(args, "default-do-not-use"),
            opts=self._child,
        )

        cidrs = subnet_cidrs(args.cidr, len(args.availability_zones))
        self.subnets: dict[str, list[aws.ec2.Subnet]] = {
            tier: [
                aws.ec2.Subnet(
                    f"{name}-{tier}-{zone}",
                    vpc_id=self.vpc_id,
                    availability_zone=zone,
                    cidr_block=cidr,
                    # Nothing here needs a public address: the ALB gets its own, NAT its EIP.
                    map_public_ip_on_launch=False,
                    tags=_name_tag(args, f"{tier}-{zone}"),
                    opts=self._child,
                )
                for zone, cidr in zip(args.availability_zones, cidrs[tier], strict=True)
            ]
            for tier in TIERS
        }
        self._public_routing(name, args)
        self._private_routing(name, args)
        self._isolated_routing(name, args)
        self._endpoints(name, args)
        self._flow_logs(name, args)

        self.public_subnet_ids = [s.id for s in self.subnets["public"]]
        self.private_subnet_ids = [s.id for s in self.subnets["private"]]
        self.isolated_subnet_ids = [s.id for s in self.subnets["isolated"]]
        self.flow_log_group_name = self.flow_log_group.name
        self.register_outputs(
            {
                "vpcId": self.vpc_id,
                "publicSubnetIds": self.public_subnet_ids,
                "privateSubnetIds": self.private_subnet_ids,
                "isolatedSubnetIds": self.isolated_subnet_ids,
                "flowLogGroupName": self.flow_log_group_name,
            }
        )

    def _associate(
        self, name: str, tier: str, tables: list[aws.ec2.RouteTable], zones: tuple[str, ...]
    ) -> list[aws.ec2.RouteTableAssociation]:
        return [
            aws.ec2.RouteTableAssociation(
                f"{name}-{tier}-rta-{zone}", subnet_id=subnet.id, route_table_id=table.id, opts=self._child
            )
            for zone, subnet, table in zip(zones, self.subnets[tier], tables, strict=True)
        ]

    def _public_routing(self, name: str, args: NetworkArgs) -> None:
        zones = args.availability_zones
        self.internet_gateway = aws.ec2.InternetGateway(
            f"{name}-igw", vpc_id=self.vpc_id, tags=_name_tag(args, "igw"), opts=self._child
        )
        self.public_route_table = aws.ec2.RouteTable(
            f"{name}-public-rt", vpc_id=self.vpc_id, tags=_name_tag(args, "public"), opts=self._child
        )
        self.internet_route = aws.ec2.Route(
            f"{name}-public-default-route",
            route_table_id=self.public_route_table.id,
            destination_cidr_block="0.0.0.0/0",
            gateway_id=self.internet_gateway.id,
            opts=self._child,
        )
        associations = self._associate(name, "public", [self.public_route_table] * len(zones), zones)
        # What makes the public subnets public. Nothing in an internet-facing resource's inputs
        # refers to the gateway, so without an explicit dependency the engine may create it
        # first: CreateLoadBalancer then fails with "InvalidSubnet: VPC ... has no internet
        # gateway" (hashicorp/terraform-provider-aws#3494 and #4587 add the same dependency to
        # their acceptance tests for it), and a NAT gateway comes up with no way out. AWS lists
        # load balancers, Elastic IPs and routes to the gateway among what must wait for the
        # gateway's attachment: CloudFormation's DependsOn page,
        # https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-dependson.html
        # (AWS-side behaviour, confirmable only against AWS). notes_platform/checks/ordering.py
        # holds every internet-facing load balancer and NAT gateway to this list.
        self.internet_access: list[pulumi.Resource] = [
            self.internet_gateway,
            self.internet_route,
            *associations,
        ]

        nat_zones = {"perAz": zones, "single": zones[:1], "none": ()}[args.nat_gateways]
        self.nat_gateways: dict[str, aws.ec2.NatGateway] = {}
        after_igw = pulumi.ResourceOptions(parent=self, depends_on=self.internet_access)
        for index, zone in enumerate(nat_zones):
            eip = aws.ec2.Eip(
                f"{name}-nat-eip-{zone}", domain="vpc", tags=_name_tag(args, f"nat-{zone}"), opts=after_igw
            )
            self.nat_gateways[zone] = aws.ec2.NatGateway(
                f"{name}-nat-{zone}",
                allocation_id=eip.allocation_id,
                subnet_id=self.subnets["public"][index].id,
                connectivity_type="public",
                tags=_name_tag(args, f"nat-{zone}"),
                opts=after_igw,
            )

    def _private_routing(self, name: str, args: NetworkArgs) -> None:
        zones = args.availability_zones
        # One private route table per AZ whatever the NAT mode, so switching modes changes
        # routes, never associations.
        self.private_route_tables = [
            aws.ec2.RouteTable(
                f"{name}-private-rt-{zone}",
                vpc_id=self.vpc_id,
                tags=_name_tag(args, f"private-{zone}"),
                opts=self._child,
            )
            for zone in zones
        ]
        self._associate(name, "private", self.private_route_tables, zones)
        for zone, table in zip(zones, self.private_route_tables, strict=True):
            nat = self.nat_gateways.get(zone if args.nat_gateways == "perAz" else zones[0])
            if nat is not None:
                aws.ec2.Route(
                    f"{name}-private-default-route-{zone}",
                    route_table_id=table.id,
                    destination_cidr_block="0.0.0.0/0",
                    nat_gateway_id=nat.id,
                    opts=self._child,
                )

    def _isolated_routing(self, name: str, args: NetworkArgs) -> None:
        zones = args.availability_zones
        # The data tier's own table holds no route out; without an explicit association its
        # subnets would follow the VPC's main table, which anyone may later give one.
        self.isolated_route_table = aws.ec2.RouteTable(
            f"{name}-isolated-rt", vpc_id=self.vpc_id, tags=_name_tag(args, "isolated"), opts=self._child
        )
        self._associate(name, "isolated", [self.isolated_route_table] * len(zones), zones)

    def _endpoints(self, name: str, args: NetworkArgs) -> None:
        self.s3_endpoint: aws.ec2.VpcEndpoint | None = None
        if args.s3_gateway_endpoint:
            self.s3_endpoint = aws.ec2.VpcEndpoint(
                f"{name}-endpoint-s3",
                vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{args.region}.s3",
                vpc_endpoint_type="Gateway",
                route_table_ids=[t.id for t in [*self.private_route_tables, self.isolated_route_table]],
                tags=_name_tag(args, "endpoint-s3"),
                opts=self._child,
            )

        self.endpoint_security_group: aws.ec2.SecurityGroup | None = None
        self.interface_endpoints: dict[str, aws.ec2.VpcEndpoint] = {}
        if not args.interface_endpoints:
            return
        self.endpoint_security_group = aws.ec2.SecurityGroup(
            f"{name}-endpoints-sg",
            # A prefix lets a replacement exist beside the group it replaces (see security_groups).
            name_prefix=f"notes-{args.environment}-vpc-endpoints-",
            description="Interface endpoints of the notes VPC: HTTPS from inside the VPC",
            vpc_id=self.vpc_id,
            tags=_name_tag(args, "vpc-endpoints"),
            opts=self._child,
        )
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-endpoints-in-https-vpc",
            security_group_id=self.endpoint_security_group.id,
            ip_protocol="tcp",
            from_port=443,
            to_port=443,
            cidr_ipv4=args.cidr,
            description="HTTPS to AWS APIs from anything in the VPC",
            opts=self._child,
        )
        for service in args.interface_endpoints:
            self.interface_endpoints[service] = aws.ec2.VpcEndpoint(
                f"{name}-endpoint-{service.replace('.', '-')}",
                vpc_id=self.vpc_id,
                service_name=f"com.amazonaws.{args.region}.{service}",
                vpc_endpoint_type="Interface",
                # The SDKs keep their default hostnames and resolve them to the endpoint.
                private_dns_enabled=True,
                subnet_ids=[s.id for s in self.subnets["private"]],
                security_group_ids=[self.endpoint_security_group.id],
                tags=_name_tag(args, f"endpoint-{service}"),
                opts=self._child,
            )

    def _flow_logs(self, name: str, args: NetworkArgs) -> None:
        self.flow_log_group = aws.cloudwatch.LogGroup(
            f"{name}-flow-logs",
            name=f"/notes/{args.environment}/vpc-flow-logs",
            retention_in_days=args.flow_log_retention_days,
            kms_key_id=args.logs_kms_key_arn,
            opts=self._child,
        )
        account: pulumi.Output[str] = self.vpc.owner_id
        self.flow_log_role = aws.iam.Role(
            f"{name}-flow-logs-role",
            name=f"notes-{args.environment}-vpc-flow-logs",
            description=f"VPC flow logs of notes-{args.environment} write to their log group",
            assume_role_policy=pulumi.Output.json_dumps(_flow_log_trust(args.region, account)),
            opts=self._child,
        )
        self.flow_log_policy = aws.iam.RolePolicy(
            f"{name}-flow-logs-policy",
            name="write-vpc-flow-logs",
            role=self.flow_log_role.id,
            policy=pulumi.Output.json_dumps(_flow_log_policy(self.flow_log_group.arn, args.region, account)),
            opts=self._child,
        )
        self.flow_log = aws.ec2.FlowLog(
            f"{name}-flow-log",
            vpc_id=self.vpc_id,
            traffic_type="ALL",
            log_destination_type="cloud-watch-logs",
            log_destination=self.flow_log_group.arn,
            iam_role_arn=self.flow_log_role.arn,
            tags=_name_tag(args, "flow-log"),
            # Nothing else orders the role's policy before the first delivery attempt.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[self.flow_log_policy]),
        )


def _flow_log_trust(region: str, account: pulumi.Output[str]) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "vpc-flow-logs.amazonaws.com"},
                "Action": "sts:AssumeRole",
                # Confused deputy: only flow logs of this account may assume the role.
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {
                        "aws:SourceArn": pulumi.Output.concat(
                            "arn:aws:ec2:", region, ":", account, ":vpc-flow-log/*"
                        )
                    },
                },
            }
        ],
    }


def _flow_log_policy(
    group_arn: pulumi.Output[str], region: str, account: pulumi.Output[str]
) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "WriteToTheFlowLogGroupOnly",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"],
                "Resource": [group_arn, pulumi.Output.concat(group_arn, ":*")],
            },
            {
                # Part of AWS's documented flow-log role; it lists names and reads no log data.
                "Sid": "FindTheLogGroup",
                "Effect": "Allow",
                "Action": "logs:DescribeLogGroups",
                "Resource": pulumi.Output.concat("arn:aws:logs:", region, ":", account, ":log-group:*"),
            },
        ],
    }

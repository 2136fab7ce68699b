"""Security groups of the request path: CloudFront -> ALB -> tasks -> DocumentDB / Redis.

Every rule is its own resource (``aws.vpc.SecurityGroupIngressRule`` / ``...EgressRule``):
inline rules and rule resources on one group fight each other, and groups that reference each
other (ALB <-> tasks) cannot be written inline without a cycle. Groups created by the provider
lose AWS's default allow-all egress rule, so a group without egress rules sends nothing.

Security groups do not filter the VPC's DNS resolver or the ECS task metadata endpoint, so the
tasks need no rule for either.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import pulumi
import pulumi_aws as aws

HTTPS = 443
DOCDB_PORT = 27017
REDIS_PORT = 6379


@dataclass(frozen=True)
class SecurityGroupsArgs:
    environment: str
    """Environment name, in the groups' AWS names. From config `environment`. Required."""
    vpc_id: pulumi.Input[str]
    """VPC the groups belong to. Set by the stack from Network. Required."""
    vpc_cidr: str
    """The VPC's CIDR. No rule needs it today: tasks reach the interface endpoints through their
    HTTPS egress, and the endpoints' own group admits the VPC. From config `networkCidr`.
    Required."""
    app_port: int
    """Port the API listens on in the task; the ALB forwards to it. From config
    `serviceContainerPort`. Required."""
    cloudfront_prefix_list_id: pulumi.Input[str]
    """AWS-managed prefix list ``com.amazonaws.global.cloudfront.origin-facing``. Set by the
    stack, which looks the list up by that name. Required."""


class SecurityGroups(pulumi.ComponentResource):
    """The ALB, tasks, DocumentDB and Redis groups, each admitting only the hop before it."""

    alb: aws.ec2.SecurityGroup
    tasks: aws.ec2.SecurityGroup
    docdb: aws.ec2.SecurityGroup
    redis: aws.ec2.SecurityGroup
    alb_id: pulumi.Output[str]
    tasks_id: pulumi.Output[str]
    docdb_id: pulumi.Output[str]
    redis_id: pulumi.Output[str]

    def __init__(
        self, name: str, args: SecurityGroupsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(name, args)
        super().__init__("notes:infra:SecurityGroups", name, None, opts)

        self.alb = self._group(name, args, "alb", "notes load balancer: HTTPS from CloudFront only")
        self.tasks = self._group(name, args, "tasks", "notes API tasks: app port from the load balancer only")
        self.docdb = self._group(
            name, args, "docdb", "notes DocumentDB: MongoDB port from the API tasks only"
        )
        self.redis = self._group(name, args, "redis", "notes Redis: Redis port from the API tasks only")

        self._alb_rules(name, args)
        self._task_rules(name, args)
        self._data_rules(name)

        self.alb_id = self.alb.id
        self.tasks_id = self.tasks.id
        self.docdb_id = self.docdb.id
        self.redis_id = self.redis.id
        self.register_outputs(
            {
                "albId": self.alb_id,
                "tasksId": self.tasks_id,
                "docdbId": self.docdb_id,
                "redisId": self.redis_id,
            }
        )

    def _group(
        self, name: str, args: SecurityGroupsArgs, role: str, description: str
    ) -> aws.ec2.SecurityGroup:
        prefix = f"notes-{args.environment}"
        return aws.ec2.SecurityGroup(
            f"{name}-{role}",
            # A prefix, not a name: a changed description replaces the group, and the new
            # one is created (and the ALB, tasks and databases moved to it) before the old
            # one goes, which a fixed name would forbid.
            name_prefix=f"{prefix}-{role}-",
            description=description,
            vpc_id=args.vpc_id,
            tags={"Name": f"{prefix}-{role}"},
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _allow(
        self,
        name: str,
        direction: Literal["in", "out"],
        sg: aws.ec2.SecurityGroup,
        role: str,
        port: int,
        description: str,
        **peer: pulumi.Input[str],
    ) -> None:
        rule = aws.vpc.SecurityGroupIngressRule if direction == "in" else aws.vpc.SecurityGroupEgressRule
        rule(
            f"{name}-{role}",
            security_group_id=sg.id,
            ip_protocol="tcp",
            from_port=port,
            to_port=port,
            description=description,
            opts=pulumi.ResourceOptions(parent=self),
            **peer,
        )

    def _alb_rules(self, name: str, args: SecurityGroupsArgs) -> None:
        # The origin-facing list counts as about 55 rules against the default quota of 60
        # inbound rules per group: the ALB group can hold nothing else inbound.
        self._allow(
            name,
            "in",
            self.alb,
            "alb-in-https-cloudfront",
            HTTPS,
            "HTTPS from CloudFront origin-facing servers",
            prefix_list_id=args.cloudfront_prefix_list_id,
        )
        self._allow(
            name,
            "out",
            self.alb,
            "alb-out-app-tasks",
            args.app_port,
            "Requests and health checks to the API tasks",
            referenced_security_group_id=self.tasks.id,
        )

    def _task_rules(self, name: str, args: SecurityGroupsArgs) -> None:
        self._allow(
            name,
            "in",
            self.tasks,
            "tasks-in-app-alb",
            args.app_port,
            "Requests and health checks from the load balancer",
            referenced_security_group_id=self.alb.id,
        )
        self._allow(
            name,
            "out",
            self.tasks,
            "tasks-out-https",
            HTTPS,
            "HTTPS to AWS APIs through NAT or VPC endpoints",
            cidr_ipv4="0.0.0.0/0",
        )
        self._allow(
            name,
            "out",
            self.tasks,
            "tasks-out-docdb",
            DOCDB_PORT,
            "MongoDB wire protocol to DocumentDB",
            referenced_security_group_id=self.docdb.id,
        )
        self._allow(
            name,
            "out",
            self.tasks,
            "tasks-out-redis",
            REDIS_PORT,
            "Redis protocol to ElastiCache",
            referenced_security_group_id=self.redis.id,
        )

    def _data_rules(self, name: str) -> None:
        self._allow(
            name,
            "in",
            self.docdb,
            "docdb-in-tasks",
            DOCDB_PORT,
            "MongoDB wire protocol from the API tasks",
            referenced_security_group_id=self.tasks.id,
        )
        self._allow(
            name,
            "in",
            self.redis,
            "redis-in-tasks",
            REDIS_PORT,
            "Redis protocol from the API tasks",
            referenced_security_group_id=self.tasks.id,
        )


def docdb_client_rules(
    name: str,
    *,
    group_id: pulumi.Input[str],
    docdb_group_id: pulumi.Input[str],
    client: str,
    description: str,
    opts: pulumi.ResourceOptions,
) -> list[pulumi.CustomResource]:
    """What a group of its own needs to reach DocumentDB: its egress to the DocumentDB group
    (``{name}-out-docdb``) and that group's ingress from it (``{name}-docdb-in-{client}``), each
    naming the other group, so neither side opens to a CIDR. ``description``: who connects, for
    the ingress rule."""
    return [
        aws.vpc.SecurityGroupEgressRule(
            f"{name}-out-docdb",
            security_group_id=group_id,
            ip_protocol="tcp",
            from_port=DOCDB_PORT,
            to_port=DOCDB_PORT,
            referenced_security_group_id=docdb_group_id,
            description="MongoDB wire protocol to DocumentDB",
            opts=opts,
        ),
        aws.vpc.SecurityGroupIngressRule(
            f"{name}-docdb-in-{client}",
            security_group_id=docdb_group_id,
            ip_protocol="tcp",
            from_port=DOCDB_PORT,
            to_port=DOCDB_PORT,
            referenced_security_group_id=group_id,
            description=f"MongoDB wire protocol from {description}",
            opts=opts,
        ),
    ]


def _validate(name: str, args: SecurityGroupsArgs) -> None:
    if not 1 <= args.app_port <= 65535:
        raise ValueError(f"SecurityGroups {name}: app_port={args.app_port} is not a TCP port (1-65535)")
    if args.app_port in (DOCDB_PORT, REDIS_PORT):
        raise ValueError(
            f"SecurityGroups {name}: app_port={args.app_port} is a database port; the tasks' "
            "rules could not tell API traffic from database traffic: choose another port"
        )

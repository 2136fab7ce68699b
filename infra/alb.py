"""The origin of the API behind CloudFront: an internet-facing ALB with a TLS 1.3 HTTPS listener,
its certificate and DNS name, the target group the ECS tasks join, and a bucket for its access
logs.

Origin lock: the security group admits only CloudFront's origin-facing addresses, but those are
shared by every CloudFront distribution, anyone's included. So the HTTPS listener answers 403 by
default and forwards only requests whose origin header (added by our distribution, see
``infra/edge/origin_secret.py``) carries one of the accepted secret values. Two values are accepted while the
secret rotates: the new one CloudFront is switching to, and the previous one it still sends
from edge locations the change has not reached yet."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.alb_logs import access_log_bucket

# uvicorn's keep-alive in the API (app/notes_api/server.py). The ALB's idle timeout must
# stay below it, or the API closes connections the ALB still reuses and clients see 502s.
API_KEEP_ALIVE_SECONDS = 75
# TLS 1.3 policies whose minimum is TLS 1.2 or 1.3: the TLS13-1-0 and -1-1 ones still accept
# TLS 1.0 and 1.1 (the minimum is in the name). The policy pack's alb-https-modern-tls agrees.
MODERN_TLS_POLICY_PREFIXES = ("ELBSecurityPolicy-TLS13-1-2-", "ELBSecurityPolicy-TLS13-1-3-")
DEFAULT_ORIGIN_HEADER_NAME = "X-Origin-Verify"
# One new value and the one it replaces: a listener rule's conditions hold five values at most,
# and a third accepted value would be a secret nobody rotated away.
MAX_ORIGIN_SECRET_VALUES = 2
# Listener rules are evaluated by priority, lowest first; the origin rule must come first so no
# later rule can forward a request that lacks the header.
ORIGIN_RULE_PRIORITY = 1
_HEADER_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]{0,39}$")
# CloudFront refuses to add these as origin custom headers (or overwrites them), so the ALB
# would never see our value in them.
_RESERVED_HEADER_PREFIXES = ("x-amz-", "x-amzn-", "x-edge-", "cloudfront-")
_RESERVED_HEADERS = frozenset(
    {
        "authorization",
        "cache-control",
        "connection",
        "content-length",
        "cookie",
        "host",
        "if-match",
        "if-modified-since",
        "if-none-match",
        "if-range",
        "if-unmodified-since",
        "max-forwards",
        "pragma",
        "proxy-authorization",
        "proxy-connection",
        "range",
        "request-range",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "via",
        "x-forwarded-for",
        "x-forwarded-proto",
        "x-real-ip",
    }
)


def origin_header_name_problem(name: str) -> str | None:
    """Why ``name`` cannot carry the origin secret, or None when it can."""
    if not _HEADER_NAME.match(name):
        return f"{name!r} is not a header name of letters, digits and '-' (at most 40 characters)"
    lowered = name.lower()
    if lowered in _RESERVED_HEADERS or lowered.startswith(_RESERVED_HEADER_PREFIXES):
        return (
            f"{name!r} is a header CloudFront reserves or overwrites; use a custom one such as "
            f"{DEFAULT_ORIGIN_HEADER_NAME}"
        )
    return None


def dns_validation_record(
    resource_name: str,
    certificate: aws.acm.Certificate,
    domain: str,
    zone_id: pulumi.Input[str],
    opts: pulumi.ResourceOptions,
) -> aws.route53.Record:
    """The Route 53 record ACM asks for to validate ``domain`` of ``certificate`` by DNS."""
    # ACM lists one option per name, in no promised order: pick by name inside apply() for the
    # values only, never to create resources there.
    option = certificate.domain_validation_options.apply(
        lambda options: next(o for o in options if o.domain_name == domain)
    )
    return aws.route53.Record(
        resource_name,
        zone_id=zone_id,
        name=option.apply(lambda o: o.resource_record_name),
        type=option.apply(lambda o: o.resource_record_type),
        records=[option.apply(lambda o: o.resource_record_value)],
        ttl=300,
        # A replacement certificate for the same name asks for the same record.
        allow_overwrite=True,
        opts=opts,
    )


@dataclass(frozen=True)
class LoadBalancerArgs:
    """Where the load balancer sits and how it treats traffic."""

    environment: str
    """Environment name, part of every AWS-side name. From config `environment`. Required."""
    region: str
    """Region of the ALB: picks the account that delivers its access logs. From config
    `aws:region`. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the target group. Set by the stack from Network. Required."""
    public_subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Public subnets, one per AZ (at least two). Set by the stack from Network. Required."""
    security_group_id: pulumi.Input[str]
    """Security group of the ALB (ingress from CloudFront, egress to the tasks). Set by the
    stack from SecurityGroups (``alb``). Required."""
    zone_id: pulumi.Input[str]
    """Route 53 zone that holds the certificate's DNS validation record and the origin's alias
    record. From config `dnsZoneId`. Required."""
    origin_name: str
    """DNS name of the origin: the certificate's only domain, and an alias record to the ALB.
    From config `dnsOriginName`. Required."""
    origin_secret_values: Sequence[pulumi.Input[str]]
    """Values of the origin header the ALB forwards: the current one first and, while a
    rotation is under way, the previous one (1 or 2 values). Everything else gets a fixed 403.
    Set by the stack from OriginSecret (generations from config `edgeOriginSecretGeneration`
    and `edgeOriginSecretPreviousGeneration`). Required."""
    origin_header_name: str = DEFAULT_ORIGIN_HEADER_NAME
    """Header CloudFront adds with the secret value. Default ``X-Origin-Verify``. Set by the
    stack from OriginSecret, so that the edge sends the header the ALB checks."""
    ssl_policy: str = "ELBSecurityPolicy-TLS13-1-2-2021-06"
    """HTTPS listener policy; TLS 1.3 policies with a TLS 1.2 minimum or newer. From config
    `albSslPolicy`. Default ``ELBSecurityPolicy-TLS13-1-2-2021-06``."""
    deletion_protection: bool = True
    """Refuse deletion of the ALB in AWS. From config `albDeletionProtection`. Default on."""
    idle_timeout_seconds: int = 60
    """Connection idle timeout; below the API's keep-alive (75 s). From config
    `albIdleTimeoutSeconds`. Default 60."""
    access_log_retention_days: int = 90
    """Days access logs stay in their bucket. From config `albAccessLogRetentionDays`. Default
    90."""
    app_port: int = 8000
    """Port the tasks listen on. From config `serviceContainerPort`. Default 8000."""
    health_check_path: str = "/health"
    """Target group health check path: liveness, without dependencies. Default ``/health``."""
    deregistration_delay_seconds: int = 30
    """Draining time of a deregistered task; ECS sends SIGTERM only after it, and the API then
    has its shutdown grace (20 s) for what is still running. Default 30."""
    access_log_prefix: str = "alb"
    """Key prefix of the access logs in their bucket. Default ``alb``."""
    s3_access_log_sources: tuple[str, str] | None = None
    """(ARN pattern of buckets, key prefix): the log bucket also takes those buckets' S3 server
    access logs under that prefix (it is SSE-S3, as S3 log delivery requires). Set by the stack
    when config ``exportsAccessLogs`` is on (the exports bucket). Default None."""
    internet_access: Sequence[pulumi.Resource] = ()
    """What makes the public subnets public: the VPC's internet gateway, its route and the
    public route table associations. The ALB is created only after them: AWS refuses an
    internet-facing load balancer in a VPC without an attached gateway. Set by the stack from
    Network (``internet_access``); the plan's ordering check refuses a stack that leaves it
    out. Default none: only for a VPC whose gateway this program does not create."""
    protect_logs: bool = True
    """Pulumi ``protect`` on the access-log bucket: `pulumi destroy` refuses to delete it.
    Default on. Set by the stack from config `albDeletionProtection`: a stack that refuses
    to lose its load balancer keeps that load balancer's logs as well."""


class LoadBalancer(pulumi.ComponentResource):
    """ALB + certificate + target group + listeners + access-log bucket."""

    alb: aws.lb.LoadBalancer
    dns_name: pulumi.Output[str]
    zone_id: pulumi.Output[str]
    arn_suffix: pulumi.Output[str]
    target_group: aws.lb.TargetGroup
    target_group_arn_suffix: pulumi.Output[str]
    https_listener: aws.lb.Listener
    origin_rule: aws.lb.ListenerRule
    http_listener: aws.lb.Listener
    origin_record: aws.route53.Record
    certificate: aws.acm.Certificate
    certificate_validation: aws.acm.CertificateValidation
    logs_bucket: aws.s3.Bucket
    logs_policy: aws.s3.BucketPolicy
    logs_versioning: aws.s3.BucketVersioning

    def __init__(self, name: str, args: LoadBalancerArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        _validate(args)
        super().__init__("notes:infra:LoadBalancer", name, None, opts)

        logs = access_log_bucket(
            name,
            environment=args.environment,
            region=args.region,
            prefix=args.access_log_prefix,
            retention_days=args.access_log_retention_days,
            protect=args.protect_logs,
            parent=self,
            s3_sources=args.s3_access_log_sources,
        )
        self.logs_bucket, self.logs_versioning = logs.bucket, logs.versioning
        self.logs_policy = logs.policy
        self._load_balancer(name, args, logs.policy)
        self._certificate(name, args)
        self._target_group(name, args)
        self._listeners(name, args)

        self.register_outputs(
            {
                "dnsName": self.dns_name,
                "arnSuffix": self.arn_suffix,
                "targetGroupArn": self.target_group.arn,
                "httpsListenerArn": self.https_listener.arn,
                "originRuleArn": self.origin_rule.arn,
                "logsBucket": self.logs_bucket.id,
            }
        )

    def _load_balancer(self, name: str, args: LoadBalancerArgs, bucket_policy: aws.s3.BucketPolicy) -> None:
        """The ALB and the origin name that resolves to it."""
        self.alb = aws.lb.LoadBalancer(
            f"{name}-lb",
            name=f"notes-{args.environment}",
            load_balancer_type="application",
            internal=False,
            subnets=args.public_subnet_ids,
            security_groups=[args.security_group_id],
            # Requests with header names that are not valid HTTP are dropped, not passed on:
            # a classic request-smuggling vector.
            drop_invalid_header_fields=True,
            enable_deletion_protection=args.deletion_protection,
            idle_timeout=args.idle_timeout_seconds,
            enable_http2=True,
            access_logs=aws.lb.LoadBalancerAccessLogsArgs(
                bucket=self.logs_bucket.id, prefix=args.access_log_prefix, enabled=True
            ),
            # ELB writes a test object when logging is switched on and fails without the policy;
            # an internet-facing ALB needs the VPC's internet gateway (see Network.internet_access).
            opts=pulumi.ResourceOptions(parent=self, depends_on=[bucket_policy, *args.internet_access]),
        )
        self.dns_name = self.alb.dns_name
        self.zone_id = self.alb.zone_id
        self.arn_suffix = self.alb.arn_suffix
        # CloudFront connects to the origin by this name and checks the ALB's certificate
        # against it, so it must resolve to the ALB and match the certificate.
        self.origin_record = aws.route53.Record(
            f"{name}-origin-record",
            zone_id=args.zone_id,
            name=args.origin_name,
            type="A",
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=self.alb.dns_name, zone_id=self.alb.zone_id, evaluate_target_health=True
                )
            ],
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _certificate(self, name: str, args: LoadBalancerArgs) -> None:
        """The origin name's certificate, validated by DNS."""
        child = pulumi.ResourceOptions(parent=self)
        self.certificate = aws.acm.Certificate(
            f"{name}-certificate",
            domain_name=args.origin_name,
            validation_method="DNS",
            opts=child,
        )
        validation_record = dns_validation_record(
            f"{name}-certificate-validation-record", self.certificate, args.origin_name, args.zone_id, child
        )
        self.certificate_validation = aws.acm.CertificateValidation(
            f"{name}-certificate-validation",
            certificate_arn=self.certificate.arn,
            validation_record_fqdns=[validation_record.fqdn],
            opts=child,
        )

    def _target_group(self, name: str, args: LoadBalancerArgs) -> None:
        self.target_group = aws.lb.TargetGroup(
            f"{name}-target-group",
            # The port is in the name: changing it replaces the group, and Pulumi creates the
            # new one before deleting the old (still attached) one, which needs a free name.
            name=f"notes-{args.environment}-api-{args.app_port}",
            target_type="ip",
            protocol="HTTP",
            port=args.app_port,
            vpc_id=args.vpc_id,
            deregistration_delay=args.deregistration_delay_seconds,
            load_balancing_algorithm_type="least_outstanding_requests",
            health_check=aws.lb.TargetGroupHealthCheckArgs(
                enabled=True,
                protocol="HTTP",
                port="traffic-port",
                path=args.health_check_path,
                matcher="200",
                interval=15,
                timeout=5,
                healthy_threshold=2,
                unhealthy_threshold=3,
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.target_group_arn_suffix = self.target_group.arn_suffix

    def _listeners(self, name: str, args: LoadBalancerArgs) -> None:
        """HTTPS (403 unless the origin rule matches) and HTTP (a redirect to HTTPS)."""
        child = pulumi.ResourceOptions(parent=self)
        self.https_listener = aws.lb.Listener(
            f"{name}-https",
            load_balancer_arn=self.alb.arn,
            port=443,
            protocol="HTTPS",
            ssl_policy=args.ssl_policy,
            # The validation's ARN, not the certificate's: the listener waits until ACM has
            # issued it.
            certificate_arn=self.certificate_validation.certificate_arn,
            default_actions=self._https_default_actions(),
            opts=child,
        )
        self.origin_rule = aws.lb.ListenerRule(
            f"{name}-https-origin",
            listener_arn=self.https_listener.arn,
            priority=ORIGIN_RULE_PRIORITY,
            conditions=[
                aws.lb.ListenerRuleConditionArgs(
                    # The ALB compares header values case-insensitively and reads * and ? as
                    # wildcards: the generated values (infra/edge/origin_secret.py) are 64 letters and digits,
                    # which still leaves over 300 bits once case is ignored.
                    http_header=aws.lb.ListenerRuleConditionHttpHeaderArgs(
                        http_header_name=args.origin_header_name,
                        values=[pulumi.Output.secret(v) for v in args.origin_secret_values],
                    )
                )
            ],
            actions=[aws.lb.ListenerRuleActionArgs(type="forward", target_group_arn=self.target_group.arn)],
            opts=child,
        )
        self.http_listener = aws.lb.Listener(
            f"{name}-http",
            load_balancer_arn=self.alb.arn,
            port=80,
            protocol="HTTP",
            default_actions=[
                aws.lb.ListenerDefaultActionArgs(
                    type="redirect",
                    redirect=aws.lb.ListenerDefaultActionRedirectArgs(
                        protocol="HTTPS", port="443", status_code="HTTP_301"
                    ),
                )
            ],
            opts=child,
        )

    def _https_default_actions(self) -> list[aws.lb.ListenerDefaultActionArgs]:
        """What the HTTPS listener does with a request no rule matched, i.e. one that did not
        come through our CloudFront distribution: a fixed 403 that never reaches the API."""
        return [
            aws.lb.ListenerDefaultActionArgs(
                type="fixed-response",
                fixed_response=aws.lb.ListenerDefaultActionFixedResponseArgs(
                    status_code="403", content_type="text/plain", message_body="Forbidden"
                ),
            )
        ]


def _validate(args: LoadBalancerArgs) -> None:
    if not args.ssl_policy.startswith(MODERN_TLS_POLICY_PREFIXES):
        raise ValueError(
            f"ssl_policy {args.ssl_policy!r} is not a TLS 1.3 policy with TLS 1.2 or newer as its "
            f"minimum: use one starting with {' or '.join(MODERN_TLS_POLICY_PREFIXES)}"
        )
    if not 1 <= args.idle_timeout_seconds < API_KEEP_ALIVE_SECONDS:
        raise ValueError(
            f"idle_timeout_seconds={args.idle_timeout_seconds} must be 1..{API_KEEP_ALIVE_SECONDS - 1}: "
            f"the API closes idle connections after {API_KEEP_ALIVE_SECONDS} s and the ALB must "
            "give up on them first"
        )
    if not 0 <= args.deregistration_delay_seconds <= 3600:
        raise ValueError(
            f"deregistration_delay_seconds must be 0..3600, got {args.deregistration_delay_seconds}"
        )
    if args.access_log_retention_days < 1:
        raise ValueError(
            f"access_log_retention_days must be at least 1, got {args.access_log_retention_days}"
        )
    if not args.health_check_path.startswith("/"):
        raise ValueError(f"health_check_path must start with '/', got {args.health_check_path!r}")
    if isinstance(args.origin_secret_values, str | pulumi.Output):
        raise ValueError("origin_secret_values must be a list of values, not one value")
    if not 1 <= len(args.origin_secret_values) <= MAX_ORIGIN_SECRET_VALUES:
        raise ValueError(
            f"origin_secret_values has {len(args.origin_secret_values)} values; give the current one "
            f"and, during a rotation, the previous one (1 to {MAX_ORIGIN_SECRET_VALUES})"
        )
    problem = origin_header_name_problem(args.origin_header_name)
    if problem:
        raise ValueError(f"origin_header_name: {problem}")

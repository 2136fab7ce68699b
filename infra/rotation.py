"""Secrets Manager rotation: a rotation function of ours per rotated secret (``SecretRotationFunction``)
and managed rotation of a secret its service rotates itself (``ManagedSecretRotation``).

``SecretRotationFunction`` is the Lambda function (package ``notes_rotation`` from app/, Python
3.12) in the private subnets with a security group of its own, its role, its KMS-encrypted log
group, an Errors alarm, the permission that lets Secrets Manager invoke it for that one secret,
and the rotation schedule. Secrets Manager calls it four times per rotation (createSecret,
setSecret, testSecret, finishSecret: app/notes_rotation/common.py).

The function reaches Secrets Manager at its regional hostname (boto3's default), which the
stack's ``secretsmanager`` interface endpoint answers inside the VPC through private DNS: "If
your Lambda function runs in a VPC that doesn't have internet access, we recommend you configure
Secrets Manager service private endpoints within your VPC" (Secrets Manager User Guide, "Network
access for Lambda rotation function"). So AWS's templates' SECRETS_MANAGER_ENDPOINT variable is
not needed: our functions never set an endpoint URL.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from infra.log_retention import LOG_RETENTION_DAYS
from infra.observability.alarm_factory import Alarm, AlarmFactory, Evaluation, Metric
from infra.observability.metrics_catalog import LAMBDA
from infra.rotation_code import CA_BUNDLE, TASK_ROOT, code_archive
from infra.rotation_policy import lambda_trust_policy, rotation_policy
from infra.security_groups import HTTPS, docdb_client_rules

RUNTIME = "python3.12"
SECRETS_MANAGER_PRINCIPAL = "secretsmanager.amazonaws.com"
# The environment the functions read (app/notes_rotation/jwt.py ACTIVATION_DELAY_ENV, KEEP_ENV;
# docdb_app.py CA_FILE_ENV); tests hold these names to the package's.
ACTIVATION_DELAY_ENV = "ACTIVATION_DELAY_SECONDS"
KEEP_ENV = "KEEP_SECONDS"
CA_FILE_ENV = "DOCDB_CA_FILE"


@dataclass(frozen=True)
class RotationKind:
    handler: str
    description: str
    talks_to_docdb: bool
    timeout_seconds: int


# The functions app/notes_rotation holds, by the ``name`` a stack gives them.
KINDS = {
    "jwt": RotationKind(
        handler="notes_rotation.jwt.lambda_handler",
        description="adds a JWT signing key to the key set, active after a delay",
        talks_to_docdb=False,
        timeout_seconds=30,
    ),
    "docdb-app": RotationKind(
        handler="notes_rotation.docdb_app.lambda_handler",
        description="alternates the app's DocumentDB users notes_app / notes_app_clone",
        talks_to_docdb=True,
        # Each step may log in twice with pymongo's 5 s timeouts (docdb_app.TIMEOUT_MS).
        timeout_seconds=60,
    ),
}


def rotation_function_name(environment: str, name: str) -> str:
    return f"notes-{environment}-rotate-{name}"


def rotation_log_group_name(environment: str, name: str) -> str:
    """Lambda's own default group name for the function: whatever sends its logs, they land in
    this KMS-encrypted group with its retention, never in one Lambda creates unencrypted."""
    return f"/aws/lambda/{rotation_function_name(environment, name)}"


@dataclass(frozen=True)
class SecretRotationFunctionArgs:
    """One rotated secret and the function that rotates it."""

    environment: str
    """Environment name, part of every AWS-side name. From config `environment`. Required."""
    name: str
    """Which function of app/notes_rotation: ``jwt`` (the JWT key set) or ``docdb-app`` (the app's
    DocumentDB user, alternating users). Sets the handler and what the function may reach. Set
    by the stack. Required."""
    region: str
    """Region of the stack: the KMS ViaService condition names Secrets Manager there. From config
    `aws:region`. Required."""
    account_id: pulumi.Input[str]
    """Account of the stack: the invoke permission admits Secrets Manager for it only. Set by the
    stack from the caller's identity. Required."""
    secret_arn: pulumi.Input[str]
    """ARN of the secret rotated. Set by the stack from GeneratedSecret / DocumentDb. Required."""
    secret_ready: Sequence[pulumi.Resource]
    """The secret's first ``SecretVersion``: rotating a secret with no AWSCURRENT value fails.
    Set by the stack. Required (may be empty for a secret whose value exists already)."""
    secrets_kms_key_arn: pulumi.Input[str]
    """KMS key of the secret(s) the function reads and writes. Set by the stack from Keys
    (``secrets``). Required."""
    logs_kms_key_arn: pulumi.Input[str]
    """KMS key of the function's log group. Set by the stack from Keys (``logs``). Required."""
    topic_arn: pulumi.Input[str]
    """Alarm topic the Errors alarm notifies. Set by the stack from AlarmTopic. Required."""
    vpc_id: pulumi.Input[str]
    """VPC of the function's security group. Set by the stack from Network. Required."""
    subnet_ids: pulumi.Input[Sequence[pulumi.Input[str]]]
    """Private subnets the function runs in. Set by the stack from Network. Required."""
    https_egress_cidr: str
    """Where the function may open HTTPS connections: the VPC's CIDR when the stack has the
    ``secretsmanager`` interface endpoint (every committed stack), ``0.0.0.0/0`` to reach the
    public endpoint through NAT. From config `networkCidr` / `networkInterfaceEndpoints`.
    Required."""
    rotation_days: int = 30
    """Days between rotations, 1-365. From config `secretsRotationDays`. Default 30."""
    docdb_security_group_id: pulumi.Input[str] | None = None
    """DocumentDB's security group, which gets a rule admitting the function's group on 27017.
    Required for ``docdb-app``, refused for ``jwt``. Set by the stack from SecurityGroups."""
    master_secret_arn: pulumi.Input[str] | None = None
    """The DocumentDB master user's secret (managed by DocumentDB), which ``docdb-app`` reads to
    set the pending user's password. Required for ``docdb-app``, refused for ``jwt``. Set by the
    stack from DocumentDb."""
    log_retention_days: int = 30
    """Log retention, days, a value CloudWatch Logs accepts. Default 30; the stack passes its own."""
    reserved_concurrency: int | None = 2
    """Concurrent executions reserved (and so the most it can run): one rotation at a time plus a
    retry. None leaves the function on the account's unreserved pool (an account whose
    concurrency limit is below 100 cannot reserve any: PutFunctionConcurrency keeps 100
    unreserved). Default 2."""
    activation_delay_seconds: int = 180
    """``jwt`` only: seconds before a new key signs, so every API task has refreshed its key set
    first (NOTES_SECRETS_REFRESH_SECONDS, 60 by default, and a margin). Default 180."""
    keep_seconds: int = 900 + 300
    """``jwt`` only: seconds an old key stays after its successor became active; at least the
    API's access-token lifetime (NOTES_ACCESS_TOKEN_TTL_SECONDS, 900) plus a margin. Default 1200."""
    code: pulumi.Archive | None = None
    """The deployment package. Default: app/notes_rotation, plus build/rotation-deps for
    ``docdb-app`` (infra/rotation_code.py). Tests pass their own."""


class SecretRotationFunction(pulumi.ComponentResource):
    """A rotation function with its network, role, logs, alarm, invoke permission and schedule."""

    security_group: aws.ec2.SecurityGroup
    security_group_rules: list[pulumi.Resource]
    log_group: aws.cloudwatch.LogGroup
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy
    function: aws.lambda_.Function
    function_name: pulumi.Output[str]
    permission: aws.lambda_.Permission
    rotation: aws.secretsmanager.SecretRotation
    errors_alarm: aws.cloudwatch.MetricAlarm
    alarm_arns: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: SecretRotationFunctionArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _validate(args)
        super().__init__("notes:infra:SecretRotationFunction", name, None, opts)
        kind = KINDS[args.name]
        child = pulumi.ResourceOptions(parent=self)
        function_name = rotation_function_name(args.environment, args.name)

        self._network(name, args)
        self.log_group = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=rotation_log_group_name(args.environment, args.name),
            kms_key_id=args.logs_kms_key_arn,
            retention_in_days=args.log_retention_days,
            opts=child,
        )
        self.role = aws.iam.Role(
            f"{name}-role",
            name=function_name,
            description=f"notes {args.environment}: rotation function {args.name}",
            assume_role_policy=pulumi.Output.json_dumps(lambda_trust_policy(args.account_id)),
            opts=child,
        )
        self.role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            policy=pulumi.Output.json_dumps(
                rotation_policy(
                    region=args.region,
                    secret_arn=args.secret_arn,
                    secrets_kms_key_arn=args.secrets_kms_key_arn,
                    log_group_arn=self.log_group.arn,
                    master_secret_arn=args.master_secret_arn,
                    random_password=kind.talks_to_docdb,
                )
            ),
            opts=child,
        )
        self._function(name, args, kind, function_name)
        self._rotation(name, args)
        self.errors_alarm = AlarmFactory(self, name, args.environment, args.topic_arn).create(
            errors_alarm(args.name, function_name)
        )
        self.alarm_arns = [self.errors_alarm.arn]
        self.register_outputs(
            {
                "functionName": self.function_name,
                "logGroupName": self.log_group.name,
                "rotationId": self.rotation.id,
            }
        )

    def _network(self, name: str, args: SecretRotationFunctionArgs) -> None:
        """A group of its own: nothing inbound, HTTPS out to Secrets Manager's endpoint and, for
        the DocumentDB function, the MongoDB port out to DocumentDB, whose group admits it (as
        infra/worker.py does for the export worker)."""
        child = pulumi.ResourceOptions(parent=self)
        prefix = rotation_function_name(args.environment, args.name)
        self.security_group = aws.ec2.SecurityGroup(
            f"{name}-sg",
            # A prefix, for the reason SecurityGroups gives: a replaced group is created first.
            name_prefix=f"{prefix}-",
            description=f"notes rotation function {args.name}: no inbound; HTTPS to Secrets Manager out",
            vpc_id=args.vpc_id,
            tags={"Name": prefix},
            opts=child,
        )
        self.security_group_rules = [
            aws.vpc.SecurityGroupEgressRule(
                f"{name}-out-https",
                security_group_id=self.security_group.id,
                ip_protocol="tcp",
                from_port=HTTPS,
                to_port=HTTPS,
                cidr_ipv4=args.https_egress_cidr,
                description="HTTPS to the Secrets Manager endpoint",
                opts=child,
            )
        ]
        if args.docdb_security_group_id is not None:
            self.security_group_rules += docdb_client_rules(
                name,
                group_id=self.security_group.id,
                docdb_group_id=args.docdb_security_group_id,
                client="rotation",
                description=f"the {args.name} rotation function",
                opts=child,
            )

    def _function(
        self, name: str, args: SecretRotationFunctionArgs, kind: RotationKind, function_name: str
    ) -> None:
        variables: dict[str, str] = (
            {CA_FILE_ENV: f"{TASK_ROOT}/{CA_BUNDLE}"}
            if kind.talks_to_docdb
            else {
                ACTIVATION_DELAY_ENV: str(args.activation_delay_seconds),
                KEEP_ENV: str(args.keep_seconds),
            }
        )
        self.function = aws.lambda_.Function(
            f"{name}-function",
            name=function_name,
            description=f"notes {args.environment}: Secrets Manager rotation, {kind.description}",
            role=self.role.arn,
            runtime=RUNTIME,
            handler=kind.handler,
            code=args.code or code_archive(with_deps=kind.talks_to_docdb),
            timeout=kind.timeout_seconds,
            memory_size=256,
            reserved_concurrent_executions=args.reserved_concurrency,
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=variables),
            vpc_config=aws.lambda_.FunctionVpcConfigArgs(
                subnet_ids=args.subnet_ids, security_group_ids=[self.security_group.id]
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(
                log_format="Text", log_group=self.log_group.name
            ),
            opts=pulumi.ResourceOptions(
                parent=self,
                # CreateFunction checks that the role may create the VPC network interfaces ("The
                # provided execution role does not have permissions to call CreateNetworkInterface
                # on EC2"), and the first invocation needs the rules; only the role's ARN is an
                # input, so the policy and the rules are ordered here.
                depends_on=[self.role_policy, *self.security_group_rules],
            ),
        )
        self.function_name = self.function.name

    def _rotation(self, name: str, args: SecretRotationFunctionArgs) -> None:
        child = pulumi.ResourceOptions(parent=self)
        # Secrets Manager invokes the function as itself; its resource policy admits it for this
        # account and this one secret (aws:SourceAccount / aws:SourceArn against the confused
        # deputy: Secrets Manager User Guide, "Permissions for rotation"; pulumi_aws
        # lambda_/permission.py source_account, source_arn).
        self.permission = aws.lambda_.Permission(
            f"{name}-invoke",
            action="lambda:InvokeFunction",
            function=self.function.name,
            principal=SECRETS_MANAGER_PRINCIPAL,
            source_account=args.account_id,
            source_arn=args.secret_arn,
            opts=child,
        )
        # RotateSecret refuses a function Secrets Manager cannot invoke, and nothing in the
        # rotation's inputs reads the permission: it is ordered here
        # (notes_platform/checks/ordering.py holds every rotation to it).
        self.rotation = aws.secretsmanager.SecretRotation(
            f"{name}-rotation",
            secret_id=args.secret_arn,
            rotation_lambda_arn=self.function.arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=args.rotation_days
            ),
            # AWS's default, explicit: the first rotation runs the four steps at once. With false
            # Secrets Manager would only run testSecret on a pending version it makes and removes
            # (pulumi_aws secretsmanager/secret_rotation.py rotate_immediately), a path the
            # functions are not written for.
            rotate_immediately=True,
            opts=pulumi.ResourceOptions(
                parent=self, depends_on=[self.permission, self.function, *args.secret_ready]
            ),
        )


def errors_alarm(name: str, function_name: str) -> Alarm:
    """Any failed step: a rotation left half-way (AWSPENDING without AWSCURRENT moving) is retried
    by Secrets Manager and needs a person if it keeps failing."""
    return Alarm(
        role=f"rotation-{name}-errors",
        what=f"Rotation function {name} errors",
        description=(
            f"The {name} rotation function failed a step. Secrets Manager retries the rotation; see "
            f"the log group {function_name} and the secret's AWSPENDING version."
        ),
        comparison="GreaterThanOrEqualToThreshold",
        threshold=1,
        # No invocation between rotations means no data, which is not a failure.
        treat_missing_data="notBreaching",
        evaluation=Evaluation(periods=1, datapoints=1, period_seconds=300),
        metric=Metric(LAMBDA, "Errors", {"FunctionName": function_name}, "Sum"),
    )


@dataclass(frozen=True)
class ManagedSecretRotationArgs:
    """The schedule of a secret its own service rotates (managed rotation: no Lambda function)."""

    environment: str
    """Environment name. From config `environment`. Required."""
    secret_arn: pulumi.Input[str]
    """ARN of the managed secret: the DocumentDB cluster's master user secret. Set by the stack
    from DocumentDb. Required."""
    rotation_days: int = 30
    """Days between rotations, 1-365. From config `secretsRotationDays`. Default 30 (DocumentDB's
    own default is 7: DocumentDB Developer Guide, "Password management with Amazon DocumentDB and
    AWS Secrets Manager": it "rotates the secret every seven days by default. You can modify some
    of the settings, such as the rotation schedule")."""


class ManagedSecretRotation(pulumi.ComponentResource):
    """The rotation schedule of a managed secret, set explicitly rather than left to the service."""

    rotation: aws.secretsmanager.SecretRotation

    def __init__(
        self, name: str, args: ManagedSecretRotationArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        _check_days(args.rotation_days)
        super().__init__("notes:infra:ManagedSecretRotation", name, None, opts)
        # rotation_lambda_arn "Must be supplied if the secret is not managed by AWS" (pulumi_aws
        # secretsmanager/secret_rotation.py): a managed secret takes the rules alone.
        self.rotation = aws.secretsmanager.SecretRotation(
            f"{name}-rotation",
            secret_id=args.secret_arn,
            rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                automatically_after_days=args.rotation_days
            ),
            # Not at deploy: the first deployment's tasks read the master secret while starting.
            rotate_immediately=False,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"rotationId": self.rotation.id})


def _check_days(days: int) -> None:
    if not 1 <= days <= 365:
        raise ValueError(f"rotation_days={days}: rotate at least yearly and at most daily (1-365)")


def _validate(args: SecretRotationFunctionArgs) -> None:
    kind = KINDS.get(args.name)
    if kind is None:
        raise ValueError(f"name={args.name!r}: app/notes_rotation has functions for {', '.join(KINDS)}")
    _check_days(args.rotation_days)
    if args.log_retention_days not in LOG_RETENTION_DAYS:
        raise ValueError(
            f"log_retention_days={args.log_retention_days} is not a value CloudWatch Logs accepts"
        )
    if args.reserved_concurrency is not None and args.reserved_concurrency < 1:
        raise ValueError(
            f"reserved_concurrency={args.reserved_concurrency}: 0 would stop every rotation; give 1 or "
            "more, or None for the unreserved pool"
        )
    given = {
        "docdb_security_group_id": args.docdb_security_group_id,
        "master_secret_arn": args.master_secret_arn,
    }
    for field_name, value in given.items():
        if kind.talks_to_docdb and value is None:
            raise ValueError(f"{args.name}: {field_name} is required: the function logs in to DocumentDB")
        if not kind.talks_to_docdb and value is not None:
            raise ValueError(f"{args.name}: {field_name} is for the DocumentDB function only; leave it unset")
    if args.activation_delay_seconds < 0 or args.keep_seconds < 0:
        raise ValueError(
            f"activation_delay_seconds={args.activation_delay_seconds}, keep_seconds={args.keep_seconds}: "
            "seconds cannot be negative"
        )

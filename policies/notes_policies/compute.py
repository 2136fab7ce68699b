"""Compute: private ECS tasks, locked-down containers, self-rolling-back deployments, pinned images."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs, StackValidationArgs

from . import resource_types as t
from .common import (
    Settings,
    current_stack,
    document,
    is_true,
    mapping,
    of_type,
    resource_rule,
    sequence,
    stack_rule,
    stacks_setting,
    strings_setting,
    text,
)

# Names of environment variables that hold credentials, and values that look like one.
SECRET_NAME = re.compile(
    r"PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|ACCESS_?KEY|SIGNING_?KEY|CREDENTIAL", re.IGNORECASE
)
SECRET_VALUE = re.compile(
    r"://[^/\s:@]+:[^/\s@]+@"  # a password in a URL
    r"|\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"  # an AWS access key id
    r"|-----BEGIN [A-Z ]*PRIVATE KEY-----"
)
SECRET_ARN = re.compile(r"^arn:aws[\w-]*:(secretsmanager|ssm):")
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")
ROOT_USERS = {"", "root", "0"}


def containers(props: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """A task definition's containers: the wire carries them as one JSON string."""
    return [mapping(c) for c in sequence(document(props.get("containerDefinitions")))]


def _name(container: Mapping[str, Any]) -> str:
    return text(container.get("name")) or "?"


@resource_rule(
    "ecs-no-public-ip",
    "ECS tasks run in private subnets without public IPs; they reach AWS through NAT or endpoints.",
    types={t.ECS_SERVICE},
)
def ecs_no_public_ip(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if is_true(mapping(args.props.get("networkConfiguration")).get("assignPublicIp")):
        report("ECS services must not assign public IPs to tasks.", None)


@resource_rule(
    "ecs-circuit-breaker-rollback",
    "A deployment that cannot reach steady state stops and rolls back on its own.",
    types={t.ECS_SERVICE},
)
def ecs_circuit_breaker_rollback(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    controller = text(mapping(args.props.get("deploymentController")).get("type")) or "ECS"
    if controller != "ECS":  # CodeDeploy and external controllers roll back themselves
        return
    breaker = mapping(args.props.get("deploymentCircuitBreaker"))
    if not (is_true(breaker.get("enable")) and is_true(breaker.get("rollback"))):
        report("ECS services must enable the deployment circuit breaker with rollback.", None)


@resource_rule(
    "ecs-container-not-privileged",
    "No container runs privileged (Fargate refuses it; EC2 would hand it the host).",
    types={t.TASK_DEFINITION},
)
def ecs_container_not_privileged(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    for container in containers(args.props):
        if is_true(container.get("privileged")):
            report(f"ECS container {_name(container)!r} must not run privileged.", None)


@resource_rule(
    "ecs-container-read-only-root",
    "Containers get a read-only root filesystem; scratch space is an explicit volume.",
    types={t.TASK_DEFINITION},
)
def ecs_container_read_only_root(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    for container in containers(args.props):
        if not is_true(container.get("readonlyRootFilesystem")):
            report(f"ECS container {_name(container)!r} must use a read-only root filesystem.", None)


@resource_rule(
    "ecs-container-non-root",
    "Containers run as a named non-root user, whatever the image declares.",
    types={t.TASK_DEFINITION},
)
def ecs_container_non_root(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    for container in containers(args.props):
        user = text(container.get("user")).split(":", 1)[0]
        if user in ROOT_USERS:
            report(f"ECS container {_name(container)!r} must run as a non-root user.", None)


@resource_rule(
    "ecs-secrets-by-arn",
    "Container secrets come from Secrets Manager or SSM by ARN, resolved by ECS at start.",
    types={t.TASK_DEFINITION},
)
def ecs_secrets_by_arn(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    for container in containers(args.props):
        for secret in map(mapping, sequence(container.get("secrets"))):
            if not SECRET_ARN.match(text(secret.get("valueFrom"))):
                name = text(secret.get("name"))
                report(f"ECS secret {name!r} must reference a Secrets Manager or SSM ARN.", None)


@resource_rule(
    "ecs-no-plaintext-secrets",
    "No credential sits in a container's plain environment, where the task definition shows it to anyone.",
    types={t.TASK_DEFINITION},
    config={"allowedNames": strings_setting([], "environment variable names that look secret but are not")},
)
def ecs_no_plaintext_secrets(
    args: ResourceValidationArgs, report: ReportViolation, settings: Settings
) -> None:
    allowed = set(settings.strings("allowedNames"))
    for container in containers(args.props):
        for variable in map(mapping, sequence(container.get("environment"))):
            name, value = text(variable.get("name")), text(variable.get("value"))
            if name in allowed or not value:
                continue
            # A secret's ARN, which the container reads by itself with its task role: a reference,
            # not a value (the API and the worker refresh rotated secrets this way).
            if name.endswith("_SECRET_ARN") and SECRET_ARN.match(value):
                continue
            if SECRET_NAME.search(name) or SECRET_VALUE.search(value):
                report(f"ECS environment variable {name!r} must not carry a secret: use secrets.", None)


@resource_rule(
    "ecs-container-logging",
    "Every container sends its output to CloudWatch Logs (awslogs, with a group) or FireLens.",
    types={t.TASK_DEFINITION},
    config={
        "allowedDrivers": strings_setting(
            ["awslogs", "awsfirelens"], "log drivers that ship container output off the task"
        )
    },
)
def ecs_container_logging(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    for container in containers(args.props):
        logging = mapping(container.get("logConfiguration"))
        driver = text(logging.get("logDriver"))
        group = text(mapping(logging.get("options")).get("awslogs-group"))
        if driver not in settings.strings("allowedDrivers") or (driver == "awslogs" and not group):
            report(f"ECS container {_name(container)!r} must send its logs to CloudWatch Logs.", None)


@resource_rule(
    "ecr-scan-on-push",
    "Images are scanned for vulnerabilities as they are pushed.",
    types={t.ECR_REPOSITORY},
)
def ecr_scan_on_push(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if not is_true(mapping(args.props.get("imageScanningConfiguration")).get("scanOnPush")):
        report("ECR repositories must scan images on push.", None)


@resource_rule(
    "ecr-immutable-tags",
    "A pushed tag never moves: what staging tested is what prod runs.",
    types={t.ECR_REPOSITORY},
)
def ecr_immutable_tags(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if args.props.get("imageTagMutability") != "IMMUTABLE":
        report("ECR repositories must use immutable tags.", None)


@resource_rule(
    "ecr-kms-encryption",
    "Images are encrypted at rest with a KMS key.",
    types={t.ECR_REPOSITORY},
)
def ecr_kms_encryption(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    configurations = [mapping(c) for c in sequence(args.props.get("encryptionConfigurations"))]
    if not configurations or any(c.get("encryptionType") != "KMS" for c in configurations):
        report("ECR repositories must encrypt images with KMS.", None)


@stack_rule(
    "image-pinned-by-digest",
    "Prod runs the exact image that passed staging: every container image is pinned by digest.",
    config={"stacks": stacks_setting("stacks whose task definitions must pin images by digest")},
)
def image_pinned_by_digest(args: StackValidationArgs, report: ReportViolation, settings: Settings) -> None:
    if current_stack(args) not in settings.strings("stacks"):
        return
    for task in of_type(args, t.TASK_DEFINITION):
        for container in containers(task.props):
            if not DIGEST.search(text(container.get("image"))):
                report(f"ECS container {_name(container)!r} must pin its image by digest.", task.urn)


POLICIES: list[Policy] = [
    ecs_no_public_ip,
    ecs_circuit_breaker_rollback,
    ecs_container_not_privileged,
    ecs_container_read_only_root,
    ecs_container_non_root,
    ecs_secrets_by_arn,
    ecs_no_plaintext_secrets,
    ecs_container_logging,
    ecr_scan_on_push,
    ecr_immutable_tags,
    ecr_kms_encryption,
    image_pinned_by_digest,
]

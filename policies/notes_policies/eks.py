"""EKS: a private API endpoint, Secrets envelope-encrypted, every control-plane log type on,
and nodes with IMDSv2 required and encrypted volumes."""

from __future__ import annotations

from pulumi_policy import ReportViolation, ResourceValidationArgs

from . import resource_types as t
from .common import Settings, is_false, is_true, mapping, resource_rule, sequence, text

# Every control-plane log type (EKS API LogSetup.types).
LOG_TYPES = ("api", "audit", "authenticator", "controllerManager", "scheduler")
OPEN_CIDRS = {"0.0.0.0/0", "::/0"}


@resource_rule(
    "eks-endpoint-not-public",
    "The Kubernetes API endpoint is private, or public only to an allow-list without 0.0.0.0/0.",
    types={t.EKS_CLUSTER},
)
def eks_endpoint_not_public(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    vpc = mapping(args.props.get("vpcConfig"))
    # CreateCluster turns public access on when the request does not say (EKS API Reference),
    # and an unset allow-list means 0.0.0.0/0.
    if is_false(vpc.get("endpointPublicAccess")):
        return
    cidrs = [text(c) for c in sequence(vpc.get("publicAccessCidrs"))]
    if not cidrs or OPEN_CIDRS & set(cidrs):
        report("EKS clusters must not expose a public API endpoint to 0.0.0.0/0.", None)


@resource_rule(
    "eks-secrets-encrypted",
    "Kubernetes Secrets are envelope-encrypted with a KMS key.",
    types={t.EKS_CLUSTER},
)
def eks_secrets_encrypted(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    config = mapping(args.props.get("encryptionConfig"))
    resources = {text(r) for r in sequence(config.get("resources"))}
    if "secrets" not in resources or not text(mapping(config.get("provider")).get("keyArn")):
        report("EKS clusters must envelope-encrypt secrets with a KMS key.", None)


@resource_rule(
    "eks-control-plane-logs",
    "Every control-plane log type (api, audit, authenticator, controllerManager, scheduler) is on.",
    types={t.EKS_CLUSTER},
)
def eks_control_plane_logs(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    enabled = {text(x) for x in sequence(args.props.get("enabledClusterLogTypes"))}
    missing = [x for x in LOG_TYPES if x not in enabled]
    if missing:
        report(f"EKS clusters must enable every control-plane log type; missing {', '.join(missing)}.", None)


@resource_rule(
    "eks-node-imdsv2",
    "Launch templates (the EKS nodes') require IMDSv2 session tokens.",
    types={t.LAUNCH_TEMPLATE},
)
def launch_template_imdsv2(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if text(mapping(args.props.get("metadataOptions")).get("httpTokens")) != "required":
        report("Launch templates must require IMDSv2 (metadataOptions.httpTokens 'required').", None)


@resource_rule(
    "eks-node-volumes-encrypted",
    "EKS node groups use a launch template, and its EBS volumes are encrypted.",
    types={t.LAUNCH_TEMPLATE, t.EKS_NODE_GROUP},
)
def eks_node_volumes_encrypted(args: ResourceValidationArgs, report: ReportViolation, _: Settings) -> None:
    if args.resource_type == t.EKS_NODE_GROUP:
        # Without a launch template the group's disks follow the account default, which may be
        # unencrypted.
        if not mapping(args.props.get("launchTemplate")):
            report("EKS node groups must use a launch template with encrypted volumes.", None)
        return
    for device in sequence(args.props.get("blockDeviceMappings")):
        ebs = mapping(mapping(device).get("ebs"))
        if ebs and not is_true(ebs.get("encrypted")):
            name = text(mapping(device).get("deviceName")) or "?"
            report(f"Launch template volume '{name}' must be encrypted.", None)


POLICIES = [
    eks_endpoint_not_public,
    eks_secrets_encrypted,
    eks_control_plane_logs,
    launch_template_imdsv2,
    eks_node_volumes_encrypted,
]

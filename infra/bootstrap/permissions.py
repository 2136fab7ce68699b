"""The IAM documents of the CI roles: what one environment's deploy may touch, what a preview may read.

Pure functions returning policy documents (the shape of ``infra.ecs.execution_policy``); the
component in ``roles.py`` wires ARNs into them. The scoping follows what the environment stack
creates (``tests/snapshots/<env>.json``): physical names ``notes-<env>-*`` for nearly everything,
``<env>/notes-api`` for the ECR repository, ``notes/<env>/*`` for secrets, log groups under a few
fixed prefixes. Each AWS action that does not support resource-level permissions is granted on
``*`` (Service Authorization Reference, "Actions, resources, and condition keys": an action with no
resource type in its row takes only ``"Resource": "*"``,
https://docs.aws.amazon.com/service-authorization/latest/reference/reference_policies_actions-resources-contextkeys.html);
those lists are what stays broad, and README ("Bootstrap") lists them.
"""

from __future__ import annotations

from typing import Any

from infra.bootstrap.state import stack_checkpoint, stack_state_paths

# Reads with no resource-level permission (or needed across every resource the stack names):
# describe/list calls the provider makes to plan and refresh. None returns a secret value.
READ_EVERYWHERE = [
    "ec2:Describe*",
    "elasticloadbalancing:Describe*",
    "ecs:Describe*",
    "ecs:List*",
    "rds:Describe*",
    "rds:ListTagsForResource",
    "elasticache:Describe*",
    "elasticache:ListTagsForResource",
    "logs:Describe*",
    "logs:ListTagsForResource",
    "logs:GetDelivery*",
    "cloudwatch:Describe*",
    "cloudwatch:GetDashboard",
    "cloudwatch:ListTagsForResource",
    "sns:GetTopicAttributes",
    "sns:GetSubscriptionAttributes",
    "sns:ListTagsForResource",
    "sns:ListSubscriptionsByTopic",
    "kms:DescribeKey",
    "kms:GetKeyPolicy",
    "kms:GetKeyRotationStatus",
    "kms:ListAliases",
    "kms:ListResourceTags",
    "acm:DescribeCertificate",
    "acm:ListTagsForCertificate",
    "cloudfront:Get*",
    "cloudfront:List*",
    "wafv2:Get*",
    "wafv2:List*",
    "route53:GetHostedZone",
    "route53:GetChange",
    "route53:ListResourceRecordSets",
    "route53:ListTagsForResource",
    "application-autoscaling:Describe*",
    "application-autoscaling:ListTagsForResource",
    "ecr:DescribeRepositories",
    "ecr:GetLifecyclePolicy",
    "ecr:GetRepositoryPolicy",
    "ecr:ListTagsForResource",
    "ecr:GetAuthorizationToken",
    "secretsmanager:DescribeSecret",
    "secretsmanager:GetResourcePolicy",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListRolePolicies",
    "iam:ListAttachedRolePolicies",
    "s3:GetBucket*",
    "s3:GetEncryptionConfiguration",
    "s3:GetLifecycleConfiguration",
    "s3:ListBucket",
]

# Actions without resource-level permissions that a deploy writes with: Resource "*".
WRITE_UNSCOPED = [
    # ECS task definitions: Register/Deregister take no resource (Service Authorization Reference, ECS).
    "ecs:RegisterTaskDefinition",
    "ecs:DeregisterTaskDefinition",
    "ec2:AllocateAddress",
    "acm:RequestCertificate",
    "kms:CreateKey",
    # CloudWatch Logs delivery for WAF and CloudFront logs (AWS WAF Developer Guide, "Permissions
    # required to publish logs to CloudWatch Logs": CreateLogDelivery, PutResourcePolicy,
    # DescribeResourcePolicies, DescribeLogGroups).
    "logs:CreateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:PutResourcePolicy",
    "logs:DeleteResourcePolicy",
    "application-autoscaling:RegisterScalableTarget",
    "application-autoscaling:DeregisterScalableTarget",
    "application-autoscaling:PutScalingPolicy",
    "application-autoscaling:DeleteScalingPolicy",
    "application-autoscaling:TagResource",
    "application-autoscaling:UntagResource",
    "route53:ChangeResourceRecordSets",
]

# Services whose resources the stack creates by name: every action of the service, on those
# names only (the names are the scope).
NAMED_SERVICES = ("ecs", "elasticloadbalancing", "rds", "elasticache", "logs", "cloudwatch", "sns", "wafv2")

# Mutations of resources whose ids AWS generates (VPC pieces, keys, certificates, distributions),
# which names cannot scope: allowed in this account, refused on anything another environment
# tagged (the Deny below).
GENERATED_ID_SERVICES = ("ec2", "kms", "acm", "cloudfront")
OTHER_ENVIRONMENT_MUTATIONS = [
    "ec2:Delete*",
    "ec2:Modify*",
    "ec2:Replace*",
    "ec2:Revoke*",
    "ec2:Authorize*",
    "ec2:Associate*",
    "ec2:Disassociate*",
    "ec2:Release*",
    "ec2:CreateTags",
    "ec2:DeleteTags",
    "ec2:CreateRoute",
    "ec2:AttachInternetGateway",
    "ec2:DetachInternetGateway",
    "kms:*",
    "acm:DeleteCertificate",
    "acm:AddTagsToCertificate",
    "acm:RemoveTagsFromCertificate",
    "cloudfront:UpdateDistribution",
    "cloudfront:DeleteDistribution",
    "cloudfront:TagResource",
    "cloudfront:UntagResource",
]

# What a deploy does with the state key (SSE-KMS objects and the awskms secrets provider).
STATE_KEY_USE = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey"]

# Services the stack's roles are handed to (ECS tasks, VPC flow logs), and the service-linked
# roles AWS creates on first use of a service in an account.
PASSED_TO = ["ecs-tasks.amazonaws.com", "vpc-flow-logs.amazonaws.com"]
SERVICE_LINKED = [
    "ecs.amazonaws.com",
    "elasticloadbalancing.amazonaws.com",
    "rds.amazonaws.com",
    "elasticache.amazonaws.com",
    "ecs.application-autoscaling.amazonaws.com",
]


def named_resources(environment: str, account: str) -> dict[str, list[str]]:
    """Per service, the ARN patterns of what ``environment``'s stack creates by name (any region:
    the edge puts its alarms, logs and web ACL in us-east-1)."""
    n = f"notes-{environment}"
    arn = f":*:{account}:"
    return {
        "ecs": [
            f"arn:aws:ecs{arn}cluster/{n}",
            f"arn:aws:ecs{arn}service/{n}/*",
            f"arn:aws:ecs{arn}task-definition/{n}-*:*",
            f"arn:aws:ecs{arn}task/{n}/*",
        ],
        "elasticloadbalancing": [
            f"arn:aws:elasticloadbalancing{arn}loadbalancer/app/{n}/*",
            f"arn:aws:elasticloadbalancing{arn}listener/app/{n}/*",
            f"arn:aws:elasticloadbalancing{arn}listener-rule/app/{n}/*",
            f"arn:aws:elasticloadbalancing{arn}targetgroup/{n}-*",
        ],
        "rds": [
            f"arn:aws:rds{arn}{kind}:{n}-*"
            for kind in ("cluster", "db", "cluster-pg", "subgrp", "cluster-snapshot")
        ],
        "elasticache": [
            f"arn:aws:elasticache{arn}{kind}:{n}-*"
            for kind in ("replicationgroup", "cluster", "parametergroup", "subnetgroup", "snapshot")
        ],
        "logs": [
            f"arn:aws:logs{arn}log-group:{group}"
            for group in (
                f"/ecs/{n}/*",
                f"/aws/docdb/{n}-*",
                f"/aws/elasticache/{n}-*",
                f"/aws/vendedlogs/cloudfront/{n}*",
                f"aws-waf-logs-{n}*",
                f"/notes/{environment}/*",
            )
        ]
        + [f"arn:aws:logs{arn}delivery-source:{n}-*", f"arn:aws:logs{arn}delivery-destination:{n}-*"]
        + [f"arn:aws:logs{arn}delivery:*"],
        "cloudwatch": [
            f"arn:aws:cloudwatch{arn}alarm:{n}-*",
            # Target tracking creates its alarms under the caller's permissions.
            f"arn:aws:cloudwatch{arn}alarm:TargetTracking-service/{n}/*",
            f"arn:aws:cloudwatch::{account}:dashboard/{n}",
        ],
        "sns": [f"arn:aws:sns{arn}{n}-*"],
        "wafv2": [
            f"arn:aws:wafv2{arn}global/webacl/{n}-*",
            f"arn:aws:wafv2{arn}regional/webacl/{n}-*",
            f"arn:aws:wafv2{arn}global/ipset/{n}-*",
            f"arn:aws:wafv2{arn}global/regexpatternset/{n}-*",
            # AWS managed rule groups are referenced, not owned: their ARNs carry no account of ours.
            "arn:aws:wafv2:*:*:global/managedruleset/*/*",
        ],
    }


def _state_statements(
    bucket_arn: str, key_arn: str, writes: list[str], reads: list[str]
) -> list[dict[str, Any]]:
    statements: list[dict[str, Any]] = [
        {
            # Key names only (the objects stay unreadable without the Get below); the backend
            # lists its stacks, history and locks under .pulumi/.
            "Sid": "StateList",
            "Effect": "Allow",
            "Action": "s3:ListBucket",
            "Resource": bucket_arn,
        },
        {
            "Sid": "StateRead",
            "Effect": "Allow",
            "Action": "s3:GetObject",
            "Resource": [f"{bucket_arn}/.pulumi/meta.yaml", *(f"{bucket_arn}/{path}" for path in reads)],
        },
        {
            # SSE-KMS: Decrypt to read an object, GenerateDataKey to write one; the awskms secrets
            # provider: Encrypt and Decrypt.
            "Sid": "StateKey",
            "Effect": "Allow",
            "Action": STATE_KEY_USE if writes else ["kms:Decrypt", "kms:DescribeKey"],
            "Resource": key_arn,
        },
    ]
    if writes:
        statements.insert(
            2,
            {
                "Sid": "StateWriteOwnStack",
                "Effect": "Allow",
                "Action": ["s3:GetObject", "s3:PutObject", "s3:DeleteObject"],
                "Resource": [f"{bucket_arn}/{path}" for path in writes],
            },
        )
    return statements


def deploy_policy(
    *,
    environment: str,
    account: str,
    project: str,
    bucket_arn: str,
    key_arn: str,
    readable_stacks: tuple[str, ...] = (),
) -> dict[str, Any]:
    """What ``pulumi up -s <environment>`` of ``project`` needs, as far as names can scope it."""
    n = f"notes-{environment}"
    named = named_resources(environment, account)
    reads = [stack_checkpoint(project, stack) for stack in readable_stacks]
    statements = _state_statements(bucket_arn, key_arn, stack_state_paths(project, environment), reads)
    statements += [
        {"Sid": "ReadEverywhere", "Effect": "Allow", "Action": READ_EVERYWHERE, "Resource": "*"},
        {"Sid": "WriteWithoutResourceLevel", "Effect": "Allow", "Action": WRITE_UNSCOPED, "Resource": "*"},
        *(
            {
                "Sid": f"Named{service.replace('-', '').title()}",
                "Effect": "Allow",
                "Action": f"{service}:*",
                "Resource": named[service],
            }
            for service in NAMED_SERVICES
        ),
        {
            "Sid": "NamedSecrets",
            "Effect": "Allow",
            "Action": "secretsmanager:*",
            "Resource": f"arn:aws:secretsmanager:*:{account}:secret:notes/{environment}/*",
        },
        {
            "Sid": "NamedRepository",
            "Effect": "Allow",
            "Action": "ecr:*",
            "Resource": f"arn:aws:ecr:*:{account}:repository/{environment}/notes-api",
        },
        {
            # Bucket-level actions only: the stack never writes or deletes a log object.
            "Sid": "NamedBuckets",
            "Effect": "Allow",
            "Action": "s3:*",
            "Resource": f"arn:aws:s3:::{n}-*",
        },
        {
            "Sid": "NamedAliases",
            "Effect": "Allow",
            "Action": ["kms:CreateAlias", "kms:DeleteAlias", "kms:UpdateAlias"],
            "Resource": f"arn:aws:kms:*:{account}:alias/{n}-*",
        },
        {
            "Sid": "NamedRoles",
            "Effect": "Allow",
            "Action": [
                "iam:CreateRole",
                "iam:DeleteRole",
                "iam:UpdateRole",
                "iam:UpdateAssumeRolePolicy",
                "iam:TagRole",
                "iam:UntagRole",
                "iam:PutRolePolicy",
                "iam:DeleteRolePolicy",
                "iam:ListInstanceProfilesForRole",
            ],
            "Resource": f"arn:aws:iam::{account}:role/{n}-*",
        },
        {
            "Sid": "PassNamedRolesToTheirServices",
            "Effect": "Allow",
            "Action": "iam:PassRole",
            "Resource": f"arn:aws:iam::{account}:role/{n}-*",
            "Condition": {"StringEquals": {"iam:PassedToService": PASSED_TO}},
        },
        {
            "Sid": "ServiceLinkedRoles",
            "Effect": "Allow",
            "Action": "iam:CreateServiceLinkedRole",
            "Resource": "*",
            "Condition": {"StringEquals": {"iam:AWSServiceName": SERVICE_LINKED}},
        },
        {
            "Sid": "GeneratedIdsInThisAccount",
            "Effect": "Allow",
            "Action": [f"{service}:*" for service in GENERATED_ID_SERVICES],
            "Resource": [
                f"arn:aws:ec2:*:{account}:*",
                f"arn:aws:kms:*:{account}:key/*",
                f"arn:aws:acm:*:{account}:certificate/*",
                f"arn:aws:cloudfront::{account}:*",
            ],
        },
        {
            # Tags are the only scope of generated ids: a resource tagged for another environment
            # is never changed, nor another environment's key used. Untagged resources (the VPC's
            # default security group before the stack adopts it) pass: the tag key must exist
            # for the deny to apply (IAM User Guide, "Condition operator to check existence of
            # condition keys": Null). The state key is left to the next statement.
            "Sid": "NeverAnotherEnvironmentsResources",
            "Effect": "Deny",
            "Action": OTHER_ENVIRONMENT_MUTATIONS,
            "NotResource": key_arn,
            "Condition": {
                "StringNotEquals": {"aws:ResourceTag/Environment": environment},
                "Null": {"aws:ResourceTag/Environment": "false"},
            },
        },
        {
            # The state key is used, never administered: no deletion, no policy, no rotation change.
            "Sid": "StateKeyIsUsedNotAdministered",
            "Effect": "Deny",
            "NotAction": STATE_KEY_USE,
            "Resource": key_arn,
        },
    ]
    return {"Version": "2012-10-17", "Statement": statements}


def preview_policy(
    *, account: str, project: str, stacks: tuple[str, ...], bucket_arn: str, key_arn: str
) -> dict[str, Any]:
    """What ``pulumi preview`` of each stack needs: the checkpoints read, the secrets decrypted,
    the provider's describe calls. ``pulumi preview`` takes no lock in a DIY backend
    (pulumi/pulumi pkg/backend/diy/backend.go: ``Preview`` calls ``apply`` without ``Lock``,
    ``Update`` locks first), so nothing in the bucket is written."""
    reads = [stack_checkpoint(project, stack) for stack in stacks]
    statements = _state_statements(bucket_arn, key_arn, [], reads)
    statements.append(
        {"Sid": "ReadEverywhere", "Effect": "Allow", "Action": READ_EVERYWHERE, "Resource": "*"}
    )
    return {"Version": "2012-10-17", "Statement": statements}


def policy_size(document: dict[str, Any]) -> int:
    """Characters IAM counts against a quota: the JSON without whitespace (IAM User Guide, "IAM
    and AWS STS quotas": "IAM doesn't count white space when calculating the size of a policy")."""
    import json  # noqa: PLC0415

    return len(json.dumps(document, separators=(",", ":")))


# IAM User Guide, "IAM and AWS STS quotas": a role's inline policies together, 10,240 characters.
INLINE_ROLE_POLICY_LIMIT = 10_240

"""Customer-managed KMS keys: one per purpose, each with an alias and its own key policy.

One key per purpose keeps a key policy readable and a compromise or a deletion contained:
scheduling the deletion of the cache key cannot make the database unreadable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

PURPOSES = ("logs", "secrets", "docdb", "cache", "ecr", "sns", "exports", "backup")
_ALIAS_SCOPE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")

DESCRIPTIONS = {
    "logs": "CloudWatch Logs log groups",
    "secrets": "Secrets Manager secrets",
    "docdb": "DocumentDB cluster storage",
    "cache": "ElastiCache Redis data at rest",
    "ecr": "ECR repository images",
    "sns": "SNS topics of alarm notifications",
    "exports": "note exports: their SQS queues and S3 bucket",
    "backup": "AWS Backup vaults",
}
# Services that publish to the alarm topic themselves and, the topic being encrypted, need the
# sns key (``KeysArgs.sns_publishers``): AWS Backup's vault events, AWS Budgets and Cost Anomaly
# Detection. Budgets and anomaly detection each document the key policy statement
# (kms:GenerateDataKey* and kms:Decrypt for budgets.amazonaws.com / costalerts.amazonaws.com: AWS
# Cost Management User Guide, "Creating an Amazon SNS topic for budget notifications" and "... for
# anomaly notifications", section "Protecting your ... alerts data with SSE and AWS KMS"); AWS
# Backup's guide does not, and the SNS Developer Guide's rule for AWS services publishing to
# encrypted topics ("Enable compatibility between event sources from AWS services and encrypted
# topics") asks for the same two actions for the service principal.
SNS_SERVICE_PUBLISHERS = frozenset(
    {"backup.amazonaws.com", "budgets.amazonaws.com", "costalerts.amazonaws.com"}
)


@dataclass(frozen=True)
class KeysArgs:
    environment: str
    """Environment name; part of each alias (``alias/notes-<env>-<purpose>``). From config
    `environment`. Required."""
    region: str
    """Region of the keys; names the CloudWatch Logs service principal. From config
    `aws:region` (the edge's keys: ``us-east-1``). Required."""
    account_id: pulumi.Input[str]
    """Account that owns the keys; its root administers them. Set by the stack from the
    caller's identity. Required."""
    deletion_window_days: int = 30
    """Days a scheduled deletion waits before the key material is gone (7-30). Default 30, the
    longest: a deleted key makes everything it encrypted unreadable for good. The stack keeps
    the default; Edge passes its own for the us-east-1 keys."""
    purposes: tuple[str, ...] = PURPOSES
    """The purposes that get a key, a subset of ``PURPOSES``. Default all of them (the stack's
    keys). A second set in another region (the edge's us-east-1 logs and alarm topic) needs
    only a few: Edge passes them."""
    alias_scope: str | None = None
    """Extra word in each alias (``alias/notes-<env>-<scope>-<purpose>``). Default none (the
    stack's keys); Edge passes ``edge``. Aliases are regional, so a second set of keys in the
    stack's own region would otherwise collide."""
    sns_publishers: tuple[str, ...] = ()
    """Service principals besides CloudWatch that publish to topics under the ``sns`` key, from
    ``SNS_SERVICE_PUBLISHERS``. Default none (the edge's keys); the stack passes the services its
    alarm topic admits (``AlarmTopicArgs.service_publishers``)."""


def _key_policy(purpose: str, args: KeysArgs) -> pulumi.Output[str]:
    account = args.account_id
    statements: list[dict[str, Any]] = [
        {
            # The default key policy: the account administers the key and IAM policies decide
            # who uses it. DocumentDB, ElastiCache, ECR and Secrets Manager act with the
            # caller's IAM permissions (and grants they create), so they need no statement here.
            # So do SQS and S3 (the exports key): SQS calls KMS for the producer's SendMessage
            # and the consumer's ReceiveMessage with their own permissions, which an IAM policy
            # may grant instead of the key policy (SQS Developer Guide, "Amazon SQS Key
            # management", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-key-management.html),
            # and S3 encrypts and decrypts objects as the requester. AWS Backup (the backup key)
            # works with the role a plan passes it, whose AWS managed policy grants the KMS calls
            # ("Your IAM role must have access to the KMS key ... The permissions in IAM policy
            # and KMS key policy must be consistent": AWS Backup Developer Guide, "Encryption for
            # backups in AWS Backup").
            "Sid": "AccountRootAdministersAndDelegatesToIam",
            "Effect": "Allow",
            "Principal": {"AWS": pulumi.Output.concat("arn:aws:iam::", account, ":root")},
            "Action": "kms:*",
            "Resource": "*",
        }
    ]
    if purpose == "logs":
        statements.append(
            {
                # CloudWatch Logs calls KMS as itself, not as the caller; the encryption
                # context condition limits it to log groups of this account and region.
                "Sid": "CloudWatchLogsEncryptsThisAccountsLogGroups",
                "Effect": "Allow",
                "Principal": {"Service": f"logs.{args.region}.amazonaws.com"},
                "Action": [
                    "kms:Encrypt*",
                    "kms:Decrypt*",
                    "kms:ReEncrypt*",
                    "kms:GenerateDataKey*",
                    "kms:Describe*",
                ],
                "Resource": "*",
                "Condition": {
                    "ArnLike": {
                        "kms:EncryptionContext:aws:logs:arn": pulumi.Output.concat(
                            "arn:aws:logs:", args.region, ":", account, ":*"
                        )
                    }
                },
            }
        )
    elif purpose == "sns":
        statements.append(
            {
                # CloudWatch alarms publish to an encrypted topic as the CloudWatch service, which
                # IAM policies cannot grant; without this the alarm fires and nobody is told. Who
                # may publish to a topic stays the topic policy's decision.
                "Sid": "CloudWatchAlarmsPublishToEncryptedTopics",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                "Resource": "*",
            }
        )
        if args.sns_publishers:
            statements.append(
                {
                    # As for CloudWatch: the key lets these services encrypt what they publish;
                    # the topic policy decides which topic, for which account.
                    "Sid": "AwsServicesPublishToEncryptedTopics",
                    "Effect": "Allow",
                    "Principal": {"Service": sorted(args.sns_publishers)},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                }
            )
    return pulumi.Output.json_dumps({"Version": "2012-10-17", "Statement": statements})


class Keys(pulumi.ComponentResource):
    """A rotated customer-managed key per purpose in ``args.purposes``; ``arn(purpose)`` hands one out."""

    keys: dict[str, aws.kms.Key]
    aliases: dict[str, aws.kms.Alias]

    def __init__(self, name: str, args: KeysArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        if not 7 <= args.deletion_window_days <= 30:
            raise ValueError(
                f"Keys {name}: deletion_window_days={args.deletion_window_days}; KMS accepts 7 to 30 days"
            )
        chosen = set(args.purposes)
        if not chosen or not chosen <= set(PURPOSES) or len(chosen) != len(args.purposes):
            raise ValueError(
                f"Keys {name}: purposes={list(args.purposes)}; give each purpose once, at least one, "
                f"from {', '.join(PURPOSES)}"
            )
        unknown = sorted(set(args.sns_publishers) - SNS_SERVICE_PUBLISHERS)
        if unknown or len(set(args.sns_publishers)) != len(args.sns_publishers):
            raise ValueError(
                f"Keys {name}: sns_publishers={list(args.sns_publishers)}; give each once, from "
                f"{', '.join(sorted(SNS_SERVICE_PUBLISHERS))}"
            )
        if args.alias_scope is not None and not _ALIAS_SCOPE.match(args.alias_scope):
            raise ValueError(
                f"Keys {name}: alias_scope={args.alias_scope!r}; use lowercase letters, digits and '-'"
            )
        super().__init__("notes:infra:Keys", name, None, opts)
        child = pulumi.ResourceOptions(parent=self)
        self.keys = {}
        self.aliases = {}
        scope = f"{args.environment}-{args.alias_scope}" if args.alias_scope else args.environment
        for purpose in args.purposes:
            key = aws.kms.Key(
                f"{name}-{purpose}",
                description=f"notes {scope}: {DESCRIPTIONS[purpose]}",
                enable_key_rotation=True,
                deletion_window_in_days=args.deletion_window_days,
                policy=_key_policy(purpose, args),
                opts=child,
            )
            self.keys[purpose] = key
            self.aliases[purpose] = aws.kms.Alias(
                f"{name}-{purpose}-alias",
                name=f"alias/notes-{scope}-{purpose}",
                target_key_id=key.key_id,
                opts=child,
            )
        self.register_outputs({f"{purpose}KeyArn": key.arn for purpose, key in self.keys.items()})

    def arn(self, purpose: str) -> pulumi.Output[str]:
        """ARN of the key for ``purpose`` (one of ``args.purposes``)."""
        key = self.keys.get(purpose)
        if key is None:
            raise ValueError(f"no KMS key for purpose {purpose!r}; purposes are {', '.join(self.keys)}")
        arn: pulumi.Output[str] = key.arn
        return arn

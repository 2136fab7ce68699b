"""The roles GitHub Actions assume: one deploy role per environment and one read-only preview role."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.bootstrap.github_oidc import github_trust_policy

# Outside every environment's ``role/notes-<env>-*`` (what a deploy role may create and change):
# a deploy role can never rewrite its own permissions or another CI role's.
ROLE_PATH = "/ci/"
# A deploy can take long (DocumentDB, CloudFront): the longest session a role may allow, 12 h
# (IAM User Guide, "Update the maximum session duration for a role": 1 to 12 hours);
# aws-actions/configure-aws-credentials asks for 1 h unless `role-duration-seconds` says more.
MAX_SESSION_SECONDS = 12 * 3600


def deploy_role_name(environment: str) -> str:
    return f"github-notes-deploy-{environment}"


PREVIEW_ROLE_NAME = "github-notes-preview"


@dataclass(frozen=True)
class CiRoleArgs:
    role_name: str
    """The role's name (under path ``/ci/``). Set by the bootstrap program. Required."""
    provider_arn: pulumi.Input[str]
    """ARN of GitHub's OIDC provider in this account (``GithubOidc.provider.arn``). Required."""
    subjects: tuple[str, ...]
    """The exact ``sub`` claims that may assume the role (``infra.bootstrap.github_oidc``
    builds them). Required, at least one; never a wildcard."""
    policy: pulumi.Input[str]
    """The role's inline permissions, a JSON document (``infra.bootstrap.permissions``). Required."""
    description: str = ""
    """Shown in the IAM console. Default empty."""

    def __post_init__(self) -> None:
        if not self.subjects:
            raise ValueError(f"{self.role_name}: give at least one subject the role trusts")
        wild = [s for s in self.subjects if "*" in s or "?" in s]
        if wild:
            raise ValueError(
                f"{self.role_name}: subjects {wild} contain a wildcard; name each repository, "
                "environment or branch exactly"
            )


class CiRole(pulumi.ComponentResource):
    """An IAM role only GitHub Actions jobs with one of ``subjects`` can assume, with its policy."""

    role: aws.iam.Role

    def __init__(self, name: str, args: CiRoleArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("notes:bootstrap:CiRole", name, None, opts)
        subjects = sorted(args.subjects)

        def trust(provider_arn: str) -> str:
            document: dict[str, Any] = github_trust_policy(provider_arn, subjects)
            return json.dumps(document)

        self.role = aws.iam.Role(
            f"{name}-role",
            name=args.role_name,
            path=ROLE_PATH,
            description=args.description,
            assume_role_policy=pulumi.Output.from_input(args.provider_arn).apply(trust),
            max_session_duration=MAX_SESSION_SECONDS,
            # The name is what the GitHub variables hold, so it stays fixed: a replacement (a new
            # path) must delete the old role first or IAM refuses the duplicate name.
            opts=pulumi.ResourceOptions(parent=self, delete_before_replace=True),
        )
        aws.iam.RolePolicy(
            f"{name}-policy",
            role=self.role.id,
            name="permissions",
            policy=args.policy,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"arn": self.role.arn})

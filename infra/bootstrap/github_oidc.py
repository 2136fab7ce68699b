"""GitHub Actions' OIDC provider in IAM, and the trust policy that scopes a role to one subject.

A workflow job with ``permissions: id-token: write`` gets a token from
``https://token.actions.githubusercontent.com`` and exchanges it for a role's credentials with
``sts:AssumeRoleWithWebIdentity``: no long-lived AWS key is stored in GitHub.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

ISSUER_HOST = "token.actions.githubusercontent.com"
ISSUER_URL = f"https://{ISSUER_HOST}"
# The audience aws-actions/configure-aws-credentials requests by default.
AUDIENCE = "sts.amazonaws.com"
SUB_KEY = f"{ISSUER_HOST}:sub"
AUD_KEY = f"{ISSUER_HOST}:aud"


def environment_subject(repository: str, environment: str) -> str:
    """The ``sub`` claim of a job that sets ``environment:``. GitHub's OIDC reference ("Filtering
    for a specific environment": ``repo:<orgName/repoName>:environment:<environmentName>``,
    https://docs.github.com/en/actions/reference/security/oidc): once a job names an environment
    the claim carries it instead of the branch, so a deploy role trusting a branch would be
    refused to the very job that deploys."""
    return f"repo:{repository}:environment:{environment}"


def pull_request_subject(repository: str) -> str:
    """The ``sub`` claim of a job triggered by ``pull_request`` (same reference, "Filtering for
    pull_request events": ``repo:<orgName/repoName>:pull_request``)."""
    return f"repo:{repository}:pull_request"


def branch_subject(repository: str, branch: str) -> str:
    """The ``sub`` claim of a job on a branch with no environment (``...:ref:refs/heads/<b>``)."""
    return f"repo:{repository}:ref:refs/heads/{branch}"


def github_trust_policy(provider_arn: str, subjects: list[str]) -> dict[str, Any]:
    """Only tokens GitHub issued for these exact subjects, with our audience, may assume the role.

    ``StringEquals`` on both claims: no wildcard, so another repository, or a job of this one
    without the environment, cannot match. GitHub's "Configuring OpenID Connect in Amazon Web
    Services": the audience is ``sts.amazonaws.com`` with the official action, and at least one
    condition must keep untrusted repositories from getting credentials
    (https://docs.github.com/en/actions/how-tos/secure-your-work/security-harden-deployments/oidc-in-aws)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "GitHubActionsOidc",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {
                        AUD_KEY: AUDIENCE,
                        SUB_KEY: subjects[0] if len(subjects) == 1 else sorted(subjects),
                    }
                },
            }
        ],
    }


@dataclass(frozen=True)
class GithubOidcArgs:
    thumbprints: tuple[str, ...] = ()
    """SHA-1 thumbprints of the issuer's certificate chain. Default none: IAM validates GitHub's
    issuer against its own library of trusted root CAs and no longer uses thumbprints for it
    (IAM API Reference, UpdateOpenIDConnectProviderThumbprint: "These OIDC IdPs include Auth0,
    GitHub, GitLab, Google ... your legacy thumbprint remains in your configuration, but is no
    longer used for validation",
    https://docs.aws.amazon.com/IAM/latest/APIReference/API_UpdateOpenIDConnectProviderThumbprint.html).
    The list is optional: pulumi_aws types ``OpenIdConnectProvider.thumbprint_lists`` as
    ``Optional``, and CreateOpenIDConnectProvider's ``ThumbprintList`` says "This parameter is
    optional. If it is not included, IAM will retrieve and use the top intermediate certificate
    authority (CA) thumbprint" (IAM API Reference)."""


class GithubOidc(pulumi.ComponentResource):
    """The account's IAM OIDC provider for GitHub Actions (one per account and issuer URL)."""

    provider: aws.iam.OpenIdConnectProvider

    def __init__(
        self, name: str, args: GithubOidcArgs | None = None, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        super().__init__("notes:bootstrap:GithubOidc", name, None, opts)
        args = args or GithubOidcArgs()
        self.provider = aws.iam.OpenIdConnectProvider(
            f"{name}-provider",
            url=ISSUER_URL,
            client_id_lists=[AUDIENCE],
            thumbprint_lists=list(args.thumbprints) or None,
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"arn": self.provider.arn})

"""The bootstrap program: `pulumi up` in ``bootstrap/``, once per AWS account.

It creates what the environment stacks cannot create for themselves: the bucket and key their
state lives in, and the identities their CI jobs deploy with. The ECR repositories are not here:
each environment stack owns its repository (issue 11: prod's first deploy creates its empty
repository before any service, and ``promote`` copies staging's image into it), so a deploy role
only ever needs its own ``<env>/notes-api``.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from infra.bootstrap.github_oidc import (
    GithubOidc,
    branch_subject,
    environment_subject,
    pull_request_subject,
)
from infra.bootstrap.permissions import deploy_policy, preview_policy
from infra.bootstrap.roles import PREVIEW_ROLE_NAME, CiRole, CiRoleArgs, deploy_role_name
from infra.bootstrap.state import StateBackend, StateBackendArgs
from stacks.bootstrap import outputs as out
from stacks.bootstrap.config import BootstrapConfig, default_tags, load
from stacks.config import PROJECT as MAIN_PROJECT


def config_from_pulumi() -> BootstrapConfig:
    """The stack's config as the engine passed it, validated before any resource exists."""
    from pulumi.runtime.config import CONFIG, get_config_env  # noqa: PLC0415

    values: dict[str, Any] = {**get_config_env(), **CONFIG.get()}
    return load(values, pulumi.get_stack())


def build(config: BootstrapConfig) -> dict[str, pulumi.Input[Any]]:
    provider = aws.Provider(
        "aws",
        region=config.region,
        default_tags=aws.ProviderDefaultTagsArgs(tags=default_tags(config)),
    )
    opts = pulumi.ResourceOptions(provider=provider)
    account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(provider=provider)).account_id
    state = StateBackend(
        "state",
        StateBackendArgs(
            bucket_name=config.state_bucket_name, key_alias=config.state_key_alias, account_id=account
        ),
        opts=opts,
    )
    oidc = GithubOidc("github", opts=opts)
    repository = config.github_repository

    def document(build_policy: Any, **kwargs: Any) -> pulumi.Output[str]:
        return pulumi.Output.all(account, state.bucket.arn, state.key.arn).apply(
            lambda values: json.dumps(
                build_policy(
                    account=values[0], project=MAIN_PROJECT, bucket_arn=values[1], key_arn=values[2], **kwargs
                )
            )
        )

    deploy_roles = {
        environment: CiRole(
            f"deploy-{environment}",
            CiRoleArgs(
                role_name=deploy_role_name(environment),
                provider_arn=oidc.provider.arn,
                subjects=(environment_subject(repository, environment),),
                policy=document(
                    deploy_policy,
                    environment=environment,
                    readable_stacks=tuple(config.state_readers.get(environment, ())),
                ),
                description=f"GitHub Actions jobs of {repository} in environment {environment}: pulumi up",
            ),
            opts=opts,
        )
        for environment in config.environments
    }
    preview = CiRole(
        "preview",
        CiRoleArgs(
            role_name=PREVIEW_ROLE_NAME,
            provider_arn=oidc.provider.arn,
            subjects=(
                pull_request_subject(repository),
                *(branch_subject(repository, branch) for branch in config.preview_branches),
            ),
            policy=document(preview_policy, stacks=config.environments),
            description=f"GitHub Actions pull request jobs of {repository}: pulumi preview, read only",
        ),
        opts=opts,
    )
    return {
        out.DEPLOY_ROLE_ARNS: {environment: role.role.arn for environment, role in deploy_roles.items()},
        out.PREVIEW_ROLE_ARN: preview.role.arn,
        out.STATE_BUCKET: state.bucket.id,
        out.STATE_KEY_ARN: state.key.arn,
        out.OIDC_PROVIDER_ARN: oidc.provider.arn,
        out.STATE_BACKEND_URL: state.bucket.id.apply(lambda bucket: f"s3://{bucket}"),
        # The form `pulumi stack init --secrets-provider` takes (Pulumi CLI reference,
        # pulumi_stack_init: "awskms://alias/ExampleAlias?region=us-east-1").
        out.SECRETS_PROVIDER: state.alias.name.apply(
            lambda alias: f"awskms://{alias}?region={config.region}"
        ),
    }


def export(outputs: dict[str, pulumi.Input[Any]]) -> None:
    for name, value in outputs.items():
        pulumi.export(name, value)

"""Identity policies: roles GitHub Actions assume name their exact subjects and our audience."""

from __future__ import annotations

import json

from policies.notes_policies import identity
from tests.policies.harness import (
    Happy,
    Mutation,
    Resource,
    from_snapshot,
    happy_path_test,
    mutation_test,
    setting,
)

PROVIDER = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
SUB = "repo:example-org/notes-platform:environment:prod"


def deploy_role() -> Resource:
    return from_snapshot("bootstrap", "deploy-prod-role")


def _trust(condition: dict[str, dict[str, object]]) -> str:
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Effect": "Allow",
                    "Principal": {"Federated": PROVIDER},
                    "Action": "sts:AssumeRoleWithWebIdentity",
                    "Condition": condition,
                }
            ],
        }
    )


AUD_OK = {identity.AUD: "sts.amazonaws.com"}
EXACT = "GitHub OIDC trust policies must name each sub claim exactly, without wildcards."
NO_SUB = "GitHub OIDC trust policies must require the sub claim with StringEquals."
AUD = "GitHub OIDC trust policies must require aud sts.amazonaws.com with StringEquals."

HAPPY: Happy = [(identity.github_oidc_trust_scoped, deploy_role)]

MUTATIONS = [
    Mutation(
        identity.github_oidc_trust_scoped,
        deploy_role,
        setting(
            "assumeRolePolicy",
            _trust(
                {"StringEquals": AUD_OK, "StringLike": {identity.SUB: "repo:example-org/notes-platform:*"}}
            ),
        ),
        EXACT,
        "a wildcard sub",
    ),
    Mutation(
        identity.github_oidc_trust_scoped,
        deploy_role,
        setting(
            "assumeRolePolicy", _trust({"StringEquals": {**AUD_OK, identity.SUB: ["repo:example-org/*"]}})
        ),
        EXACT,
        "a wildcard repository among exact ones",
    ),
    Mutation(
        identity.github_oidc_trust_scoped,
        deploy_role,
        setting("assumeRolePolicy", _trust({"StringEquals": AUD_OK})),
        NO_SUB,
        "no sub at all",
    ),
    Mutation(
        identity.github_oidc_trust_scoped,
        deploy_role,
        setting("assumeRolePolicy", _trust({"StringEquals": {identity.SUB: SUB}})),
        AUD,
        "no aud",
    ),
    Mutation(
        identity.github_oidc_trust_scoped,
        deploy_role,
        setting(
            "assumeRolePolicy",
            _trust({"StringEquals": {identity.SUB: SUB}, "StringLike": {identity.AUD: "sts.*"}}),
        ),
        AUD,
        "aud only by pattern",
    ),
]

test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)

"""Provider and engine rules over the recorded graph: both stacks are clean, and each rule finds
its mistake planted back, naming the URN."""

from __future__ import annotations

import copy

import pytest

from notes_platform.checks import provider_rules
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan

ECS_SERVICE = "aws:ecs/service:Service"
ALB_LOGS = "aws:s3/bucket:Bucket"


def the(resources: list[Recorded], type_token: str, name_part: str = "") -> Recorded:
    found = [r for r in resources if r.type == type_token and name_part in r.name]
    assert len(found) == 1, [r.urn for r in found]
    return found[0]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_both_stacks_follow_the_provider_rules(plans: dict[str, Plan], stack: str) -> None:
    assert provider_rules.check(plans[stack].resources) == []


@pytest.mark.parametrize("stack", ["staging", "prod"])
@pytest.mark.parametrize("value", [False, None])
@pytest.mark.parametrize("which", ["-api-service", "-worker-service"])
def test_a_capacity_strategy_without_force_new_deployment_is_found(
    plans: dict[str, Plan], stack: str, value: bool | None, which: str
) -> None:
    # GIVEN a service (the API's or the export worker's) with its Fargate/Spot strategy but
    # forceNewDeployment false or unset
    resources = copy.deepcopy(plans[stack].resources)
    service = the(resources, ECS_SERVICE, which)
    assert service.inputs["capacityProviderStrategies"], service.urn
    if value is None:
        del service.inputs["forceNewDeployment"]
    else:
        service.inputs["forceNewDeployment"] = value
    # THEN the rule names the service: a change of the mix would replace it
    [finding] = provider_rules.check(resources)
    assert finding.urn == service.urn and "force_new_deployment=True" in finding.message, finding


def test_prod_protects_its_alb_log_bucket_and_staging_protects_nothing(plans: dict[str, Plan]) -> None:
    # THEN prod keeps its access logs through `pulumi destroy`, as it keeps its data stores
    assert the(plans["prod"].resources, ALB_LOGS, "alb-logs").protect is True
    # AND staging, which protects nothing, is not held to the rule
    staging = plans["staging"].resources
    assert not any(r.protect for r in staging), [r.urn for r in staging if r.protect]
    assert provider_rules.protection_findings(staging) == []


def test_an_unprotected_log_bucket_in_a_protected_stack_is_found(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan with the ALB's log bucket left unprotected again (the bug of issue 11)
    resources = copy.deepcopy(plans["prod"].resources)
    bucket = the(resources, ALB_LOGS, "alb-logs")
    bucket.protect = False
    # THEN the rule names the bucket
    [finding] = provider_rules.check(resources)
    assert finding.urn == bucket.urn and "not protected" in finding.message, finding


def test_an_unprotected_exports_bucket_in_a_protected_stack_is_found(plans: dict[str, Plan]) -> None:
    # GIVEN prod's plan, whose exports bucket exportsProtect protects
    resources = copy.deepcopy(plans["prod"].resources)
    bucket = the(resources, ALB_LOGS, "exports-bucket")
    assert bucket.protect is True, bucket.urn
    # WHEN it is left unprotected / THEN the rule names it
    bucket.protect = False
    [finding] = provider_rules.check(resources)
    assert finding.urn == bucket.urn and "not protected" in finding.message, finding


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({"masterPassword": "planted"}, "sets both masterPassword and manageMasterUserPassword"),
        ({"manageMasterUserPassword": False}, "sets no master password"),
    ],
)
def test_a_docdb_cluster_with_both_or_no_master_password_is_found(
    plans: dict[str, Plan], change: dict[str, object], expected: str
) -> None:
    # GIVEN prod's cluster, whose password DocumentDB manages, planted with a password of its own
    # as well, or with neither
    resources = copy.deepcopy(plans["prod"].resources)
    cluster = the(resources, provider_rules.DOCDB_CLUSTER)
    assert cluster.inputs["manageMasterUserPassword"] is True and "masterPassword" not in cluster.inputs
    cluster.inputs.update(change)
    # THEN the rule names the cluster: the provider or CreateDBCluster would refuse it
    [finding] = provider_rules.check(resources)
    assert finding.urn == cluster.urn and expected in finding.message, finding

"""The AWS checks of `notes-platform verify` against a stack built in moto, and against Stubber
responses shaped like the AWS API model where moto cannot produce the state (verify_world)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import boto3
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from notes_platform.release.verify import (
    ROLLOUT_FAILED,
    STACK_UNHEALTHY,
    exit_code,
    run_checks,
)
from tests.notes_platform.release.verify_world import (
    ARN,
    DIGEST,
    PREVIOUS_DIGEST,
    REGION,
    REPOSITORY,
    World,
    build,
    docdb_available,
    rolled_back,
    service,
    stubbed,
    task_definition,
)

AWS_CHECKS = [
    "ecs-image",
    "ecs-rollout",
    "ecs-capacity",
    "targets-healthy",
    f"alarms-{REGION}",
    "alarms-us-east-1",
    "docdb-cluster",
    "docdb-instances",
    "cache",
    "cloudfront-deployed",
    "cloudfront-web-acl",
]


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": REGION,
    }.items():
        monkeypatch.setenv(name, value)
    with mock_aws():
        yield


def verdicts(world: World) -> dict[str, tuple[bool, str]]:
    checks = run_checks(world.expected, world.clients(), smoke=False)
    return {check.name: (check.passed, check.saw) for check in checks}


def failed(world: World) -> dict[str, str]:
    return {name: saw for name, (ok, saw) in verdicts(world).items() if not ok}


def test_a_good_deploy_passes_every_aws_check(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the staging stack after a deploy that rolled out
    world = build(monkeypatch)
    # WHEN verify checks it (no smoke)
    checks = run_checks(world.expected, world.clients(), smoke=False)
    # THEN every check ran, in order, and passed, saying what it saw
    assert [c.name for c in checks] == AWS_CHECKS
    assert [c.name for c in checks if not c.passed] == [], checks
    saw = {c.name: c.saw for c in checks}
    assert f"runs notes-staging-api:2 with {DIGEST}" in saw["ecs-image"]
    assert saw["ecs-capacity"] == "running 2, desired 2, pending 0"
    assert "2 of 2 healthy (want 2)" in saw["targets-healthy"]
    assert saw[f"alarms-{REGION}"] == "2 alarms: 2 OK" and saw["alarms-us-east-1"] == "1 alarms: 1 OK"
    assert saw["cache"] == "notes-staging-redis available; node groups 0001 available"
    assert saw["cloudfront-deployed"].endswith("Deployed")
    assert exit_code(checks) == 0


def test_fewer_tasks_running_than_desired_fails_capacity_and_the_rollout(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a service with 1 of 2 tasks running (moto: still IN_PROGRESS)
    world = build(monkeypatch, running=1, desired=2)
    # WHEN verified
    found = failed(world)
    # THEN capacity fails with the counts, and the rollout is not complete: exit 3
    assert found["ecs-capacity"] == "running 1, desired 2, pending 1"
    assert "rolloutState IN_PROGRESS" in found["ecs-rollout"]
    assert exit_code(run_checks(world.expected, world.clients(), smoke=False)) == ROLLOUT_FAILED


def test_a_target_that_is_not_healthy_fails_naming_it(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN one of the two registered targets stopped (moto reports it unused, Target.InvalidState)
    world = build(monkeypatch)
    boto3.client("ec2", region_name=REGION).stop_instances(InstanceIds=[world.instance_ids[0]])
    # WHEN verified
    found = failed(world)
    # THEN only the target check fails, naming the target, its state and reason: exit 4
    assert list(found) == ["targets-healthy"]
    assert f"{world.instance_ids[0]}:8000 unused (Target.InvalidState)" in found["targets-healthy"]
    assert "1 of 2 healthy (want 2)" in found["targets-healthy"]


def test_an_unhealthy_target_fails(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a target the load balancer's health check rejects (Stubber: moto never says unhealthy)
    world = build(monkeypatch)
    health = [
        {"Target": {"Id": "10.20.64.10", "Port": 8000}, "TargetHealth": {"State": "healthy"}},
        {
            "Target": {"Id": "10.20.72.11", "Port": 8000},
            "TargetHealth": {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch"},
        },
    ]
    world.stubs["elbv2"] = lambda: stubbed(
        "elbv2", [("describe_target_health", {"TargetHealthDescriptions": health})]
    )
    # THEN the check fails naming it
    assert "10.20.72.11:8000 unhealthy (Target.ResponseCodeMismatch)" in failed(world)["targets-healthy"]


def test_an_alarm_in_alarm_fails_its_region_naming_it(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the edge's 5xx alarm firing in us-east-1
    world = build(monkeypatch)
    boto3.client("cloudwatch", region_name="us-east-1").set_alarm_state(
        AlarmName="notes-staging-cloudfront-5xx-error-rate", StateValue="ALARM", StateReason="5xx"
    )
    # WHEN verified THEN us-east-1's alarm check fails naming the alarm; the stack region's passes
    found = failed(world)
    assert list(found) == ["alarms-us-east-1"]
    assert found["alarms-us-east-1"] == "1 ALARM; in ALARM: notes-staging-cloudfront-5xx-error-rate"
    assert exit_code(run_checks(world.expected, world.clients(), smoke=False)) == STACK_UNHEALTHY


def test_no_alarm_found_means_a_wrong_environment(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN verify told the wrong environment (no alarm carries its prefix)
    world = build(monkeypatch)
    world.expected = replace(world.expected, environment="qa")
    found = failed(world)
    # THEN both alarm checks fail saying so, rather than passing on nothing
    assert found["alarms-us-east-1"] == "no alarm named notes-qa-* in us-east-1: wrong region or environment?"
    assert "cache" in found  # notes-qa-redis does not exist either


def test_a_cache_that_is_missing_or_not_available_fails(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the replication group being deleted (moto keeps it a while, status deleting) ...
    world = build(monkeypatch)
    boto3.client("elasticache", region_name=REGION).delete_replication_group(
        ReplicationGroupId="notes-staging-redis"
    )
    assert failed(world) == {"cache": "notes-staging-redis deleting; node groups 0001 available"}
    # ... or gone (Stubber, with AWS's error code) ...
    world.stubs["elasticache"] = lambda: stubbed(
        "elasticache", [], errors=[("describe_replication_groups", "ReplicationGroupNotFoundFault", 404)]
    )
    assert failed(world) == {"cache": "notes-staging-redis: ReplicationGroupNotFoundFault"}
    # ... or modifying (Stubber: moto's groups are available from the start)
    group = {
        "ReplicationGroupId": "notes-staging-redis",
        "Status": "modifying",
        "NodeGroups": [{"NodeGroupId": "0001", "Status": "modifying"}],
    }
    world.stubs["elasticache"] = lambda: stubbed(
        "elasticache", [("describe_replication_groups", {"ReplicationGroups": [group]})]
    )
    assert failed(world) == {"cache": "notes-staging-redis modifying; node groups 0001 modifying"}


def test_a_distribution_still_in_progress_fails(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a distribution whose change has not reached every edge location (moto's managed
    # state held at InProgress)
    state_manager.set_transition(
        model_name="cloudfront::distribution", transition={"progression": "manual", "times": 1000}
    )
    try:
        world = build(monkeypatch)
        found = failed(world)
    finally:
        state_manager.unset_transition("cloudfront::distribution")
    # THEN only cloudfront-deployed fails, saying InProgress
    assert list(found) == ["cloudfront-deployed"] and found["cloudfront-deployed"].endswith("InProgress")


def test_a_distribution_with_another_web_acl_fails(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the distribution protected by another web ACL than the stack's
    other = "arn:aws:wafv2:us-east-1:123456789012:global/webacl/someone-else/9"
    world = build(monkeypatch, distribution_web_acl=other)
    found = failed(world)
    # THEN the web ACL check fails naming both
    assert list(found) == ["cloudfront-web-acl"]
    assert f"web ACL {other}, expected {world.expected.web_acl_arn}" in found["cloudfront-web-acl"]


def test_a_distribution_without_a_web_acl_fails(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(monkeypatch, distribution_web_acl="")
    assert "web ACL none, expected" in failed(world)["cloudfront-web-acl"]


# --- what moto cannot do: a rollback, DocumentDB --------------------------------------------


def test_a_completed_rollback_to_the_previous_task_definition_fails(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a service the circuit breaker rolled back: one deployment, COMPLETED and steady
    # (what `pulumi up` and the standard deploy action call success), running revision 1
    world = build(monkeypatch)
    world.stubs["ecs"] = rolled_back(world)
    # WHEN verified
    checks = run_checks(world.expected, world.clients(), smoke=False)
    found = {c.name: c.saw for c in checks if not c.passed}
    # THEN the image check fails naming what runs and what was expected, the rollout itself
    # looks complete, and the exit code is the rollout's
    assert list(found) == ["ecs-image"]
    assert f"runs notes-staging-api:1 with {REPOSITORY}@{PREVIOUS_DIGEST}, not {DIGEST}" in found["ecs-image"]
    assert "rolled back by the circuit breaker" in found["ecs-image"]
    assert exit_code(checks) == ROLLOUT_FAILED


def test_a_rollback_under_way_names_the_failed_deployment(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN the circuit breaker mid-rollback: the new deployment FAILED, the rollback is PRIMARY
    world = build(monkeypatch)
    rollback = {
        "id": "ecs-svc/3",
        "status": "PRIMARY",
        "taskDefinition": f"{ARN}1",
        "rolloutState": "IN_PROGRESS",
    }
    failed_new = {
        "id": "ecs-svc/2",
        "status": "ACTIVE",
        "taskDefinition": f"{ARN}2",
        "rolloutState": "FAILED",
        "rolloutStateReason": "ECS deployment circuit breaker: tasks failed to start.",
    }
    world.stubs["ecs"] = lambda: stubbed(
        "ecs",
        [
            ("describe_services", service(world, [rollback, failed_new])),
            ("describe_task_definition", task_definition(1, PREVIOUS_DIGEST)),
        ],
    )
    found = failed(world)
    # THEN both rollout checks fail, the image check quoting the failed deployment's reason
    assert (
        "deployment ecs-svc/2 FAILED (ECS deployment circuit breaker: tasks failed to start.)"
        in found["ecs-image"]
    )
    assert found["ecs-rollout"] == "primary deployment ecs-svc/3: rolloutState IN_PROGRESS"


def test_a_finished_rollout_with_an_old_deployment_left_fails(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(monkeypatch)
    new = {"id": "ecs-svc/2", "status": "PRIMARY", "taskDefinition": f"{ARN}2", "rolloutState": "COMPLETED"}
    old = {"id": "ecs-svc/1", "status": "ACTIVE", "taskDefinition": f"{ARN}1", "rolloutState": "COMPLETED"}
    world.stubs["ecs"] = lambda: stubbed(
        "ecs",
        [
            ("describe_services", service(world, [new, old])),
            ("describe_task_definition", task_definition(2, DIGEST)),
        ],
    )
    found = failed(world)
    assert (
        found["ecs-rollout"]
        == "rolloutState COMPLETED, but other deployments remain: ecs-svc/1 ACTIVE COMPLETED"
    )
    assert "ecs-image" not in found


def test_a_missing_service_fails_every_ecs_check(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    world = build(monkeypatch)
    world.expected = replace(world.expected, service="notes-staging-gone")
    found = failed(world)
    assert {"ecs-image", "ecs-rollout", "ecs-capacity", "targets-healthy"} <= set(found)
    assert "no service notes-staging-gone in cluster notes-staging" in found["ecs-image"]


def test_documentdb_instances_not_available_fail(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN (Stubber: moto has no DocumentDB) a cluster whose two instances are modifying
    world = build(monkeypatch)
    world.stubs["docdb"] = lambda: docdb_available(instances=2, status="modifying")
    # THEN the instances check fails listing each, the cluster's passes
    found = failed(world)
    assert found == {"docdb-instances": "notes-staging-docdb-1 modifying, notes-staging-docdb-2 modifying"}


def test_a_documentdb_cluster_that_is_missing_fails_both_checks(
    aws: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    world = build(monkeypatch)
    world.stubs["docdb"] = lambda: stubbed(
        "docdb", [], errors=[("describe_db_clusters", "DBClusterNotFoundFault", 404)]
    )
    found = failed(world)
    assert found["docdb-cluster"] == found["docdb-instances"] == "notes-staging-docdb: DBClusterNotFoundFault"


def test_access_denied_is_the_failure_of_that_check_only(aws: None, monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a role that may not describe CloudFront
    world = build(monkeypatch)
    world.stubs["cloudfront"] = lambda: stubbed(
        "cloudfront", [], region="us-east-1", errors=[("list_distributions", "AccessDenied", 403)]
    )
    # THEN that check fails with AWS's answer and the others still ran
    found = failed(world)
    assert found == {"cloudfront-deployed": "ListDistributions: AccessDenied: stubbed AccessDenied"}

"""The recorded graph speaks the engine's URNs, so that plans and real previews line up."""

from __future__ import annotations

import pytest
from pulumi.runtime import mocks as pulumi_mocks

from notes_platform.graph.mocks import ROOT_STACK_TYPE, AwsMocks, engine_urn
from notes_platform.graph.plan import Plan

STACK_URN = "urn:pulumi:prod::notes-platform::pulumi:pulumi:Stack::notes-platform-prod"
EDGE = "urn:pulumi:prod::notes-platform::notes:infra:Edge::prod-edge"
TOPIC_COMPONENT = (
    "urn:pulumi:prod::notes-platform::notes:infra:Edge$notes:infra:AlarmTopic::prod-edge-alarm-topic"
)


def _qualified(urn: str) -> str:
    return urn.split("::")[2]


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_recorded_urn_is_qualified_by_its_whole_parent_chain(
    plans: dict[str, Plan], stack: str
) -> None:
    # GIVEN every resource the program registered, at any depth
    by_urn = {r.urn: r for r in plans[stack].resources}
    for r in plans[stack].resources:
        parent = r.parent or ""
        # THEN its qualified type is its parent's whole qualified type, then its own (none for the
        # stack's children), as the engine builds it
        expected = (
            r.type
            if not parent or _qualified(parent) == ROOT_STACK_TYPE
            else f"{_qualified(parent)}${r.type}"
        )
        assert _qualified(r.urn) == expected, r.urn
        # AND a parent other than the stack is itself a recorded resource under that very URN
        if parent and _qualified(parent) != ROOT_STACK_TYPE:
            assert parent in by_urn, f"{r.urn}: parent {parent} was recorded under another URN"


def test_engine_urns_at_each_depth() -> None:
    assert (
        engine_urn(STACK_URN, "notes:infra:Edge", "prod-edge", stack="prod", project="notes-platform") == EDGE
    )
    assert (
        engine_urn(
            EDGE, "notes:infra:AlarmTopic", "prod-edge-alarm-topic", stack="prod", project="notes-platform"
        )
        == TOPIC_COMPONENT
    )
    assert engine_urn(
        TOPIC_COMPONENT, "aws:sns/topic:Topic", "t", stack="prod", project="notes-platform"
    ) == ("urn:pulumi:prod::notes-platform::notes:infra:Edge$notes:infra:AlarmTopic$aws:sns/topic:Topic::t")
    assert engine_urn("", "pulumi:providers:aws", "aws", stack="prod", project="notes-platform") == (
        "urn:pulumi:prod::notes-platform::pulumi:providers:aws::aws"
    )


def test_the_sdk_mock_alone_would_record_other_urns() -> None:
    # GIVEN the SDK's own mock monitor (what the plan used before it built URNs itself)
    monitor = pulumi_mocks.MockMonitor(AwsMocks("eu-west-1"))
    # WHEN it names a grandchild and a child of the stack
    grandchild = monitor.make_urn(TOPIC_COMPONENT, "aws:sns/topic:Topic", "t")
    child = monitor.make_urn(STACK_URN, "notes:infra:Edge", "prod-edge")
    # THEN both differ from the engine's: this is the mistake the recorder corrects
    assert _qualified(grandchild) == "notes:infra:AlarmTopic$aws:sns/topic:Topic"
    assert _qualified(child) == "pulumi:pulumi:Stack$notes:infra:Edge"


def test_a_queue_is_named_in_its_arn_and_identified_by_its_url() -> None:
    # GIVEN a queue registered under the mocks, in the stack's region
    mocks = AwsMocks("eu-west-1")
    args = pulumi_mocks.MockResourceArgs(
        "aws:sqs/queue:Queue", "staging-exports-queue", {"name": "notes-staging-exports"}, None, None
    )
    # WHEN the mocks answer its creation
    resource_id, outputs = mocks.new_resource(args)
    # THEN its ARN ends in the queue's name and its id is its URL, as the provider reports them
    assert outputs["arn"].startswith("arn:aws:sqs:eu-west-1:")
    assert outputs["arn"].endswith(":notes-staging-exports")
    assert resource_id == outputs["url"] == outputs["id"]
    assert resource_id.startswith("https://sqs.eu-west-1.amazonaws.com/")
    assert resource_id.endswith("/notes-staging-exports")


@pytest.mark.parametrize(("managed", "expected"), [(True, 1), (False, 0)])
def test_a_docdb_cluster_with_a_managed_password_reports_its_secret(managed: bool, expected: int) -> None:
    # GIVEN a DocumentDB cluster registered under the mocks, its password managed or not
    mocks = AwsMocks("eu-west-1")
    inputs = {"clusterIdentifier": "notes-staging-docdb", "manageMasterUserPassword": managed}
    args = pulumi_mocks.MockResourceArgs(
        "aws:docdb/cluster:Cluster", "staging-docdb-cluster", inputs, None, None
    )
    # WHEN the mocks answer its creation
    _, outputs = mocks.new_resource(args)
    # THEN a managed one reports one master secret, as DescribeDBClusters' MasterUserSecret does:
    # a Secrets Manager ARN in the region, named rds!cluster-..., active; an unmanaged one none
    secrets = outputs.get("masterUserSecrets", [])
    assert len(secrets) == expected, outputs
    for secret in secrets:
        assert secret["secretArn"].startswith(
            "arn:aws:secretsmanager:eu-west-1:123456789012:secret:rds!cluster-"
        )
        assert secret["secretStatus"] == "active"
        assert secret["kmsKeyId"].startswith("arn:aws:kms:eu-west-1:")

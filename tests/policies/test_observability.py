"""Observability policies: log retention and encryption, encrypted topics, alarms that notify,
Container Insights, and an alarm on every critical resource."""

from __future__ import annotations

from policies.notes_policies import observability
from tests.policies import fixtures as f
from tests.policies.harness import (
    Happy,
    Mutation,
    StackMutation,
    applied,
    check,
    check_stack,
    happy_path_test,
    mutation_test,
    named,
    removing,
    setting,
    snapshot,
    stack_mutation_test,
    without,
    without_alarms,
)

HAPPY: Happy = [
    (observability.log_group_retention, f.log_group),
    (observability.log_group_kms_encrypted, f.log_group),
    (observability.sns_topic_encrypted, f.topic),
    (observability.alarm_actions_configured, f.docdb_alarm),
    (observability.ecs_container_insights, f.ecs_cluster),
]

TOPIC_KEY = "SNS topics must be encrypted with a customer-managed KMS key."

MUTATIONS = [
    Mutation(
        observability.log_group_retention,
        f.log_group,
        removing("retentionInDays"),
        "Log groups must set a retention period.",
        "kept forever",
    ),
    Mutation(
        observability.log_group_retention,
        f.log_group,
        setting("retentionInDays", 7),
        "Log groups must keep logs for at least 14 days.",
        "a week",
    ),
    Mutation(
        observability.log_group_kms_encrypted,
        f.log_group,
        removing("kmsKeyId"),
        "Log groups must be encrypted with a KMS key.",
        "service-side encryption only",
    ),
    Mutation(
        observability.sns_topic_encrypted, f.topic, removing("kmsMasterKeyId"), TOPIC_KEY, "unencrypted"
    ),
    Mutation(
        observability.sns_topic_encrypted,
        f.topic,
        setting("kmsMasterKeyId", "alias/aws/sns"),
        TOPIC_KEY,
        "the AWS managed key CloudWatch cannot use",
    ),
    Mutation(
        observability.alarm_actions_configured,
        f.docdb_alarm,
        setting("alarmActions", []),
        "Metric alarms must have alarm actions.",
        "nobody notified",
    ),
    Mutation(
        observability.alarm_actions_configured,
        f.docdb_alarm,
        setting("actionsEnabled", False),
        "Metric alarms must not disable their actions.",
        "actions disabled",
    ),
    Mutation(
        observability.ecs_container_insights,
        f.ecs_cluster,
        setting("settings.0.value", "disabled"),
        "ECS clusters must enable Container Insights.",
        "disabled",
    ),
    Mutation(
        observability.ecs_container_insights,
        f.ecs_cluster,
        removing("settings"),
        "ECS clusters must enable Container Insights.",
        "the default",
    ),
]

ALARMED = observability.critical_resources_alarmed
STACK_MUTATIONS = [
    StackMutation(
        ALARMED,
        without("prod-alarm-docdb-cpu"),
        [("DocumentDB clusters must have at least one CloudWatch alarm.", f.docdb_cluster()["urn"])],
        "the database",
    ),
    StackMutation(
        ALARMED,
        without("prod-alarm-redis-memory"),
        [
            (
                "ElastiCache replication groups must have at least one CloudWatch alarm.",
                f.replication_group()["urn"],
            )
        ],
        "the cache",
    ),
    StackMutation(
        ALARMED,
        without("prod-alarm-alb-5xx"),
        [("Load balancers must have at least one CloudWatch alarm.", f.load_balancer()["urn"])],
        "the load balancer",
    ),
    StackMutation(
        ALARMED,
        without("prod-alarm-api-cpu"),
        [("ECS services must have at least one CloudWatch alarm.", f.ecs_service()["urn"])],
        "the service",
    ),
    StackMutation(
        ALARMED,
        without("prod-alarm-cdn-5xx"),
        [("CloudFront distributions must have at least one CloudWatch alarm.", f.DISTRIBUTION_URN)],
        "the distribution",
    ),
]


test_the_happy_path_passes = happy_path_test(HAPPY)
test_one_change_is_reported = mutation_test(MUTATIONS)
test_one_stack_change_is_reported = stack_mutation_test(STACK_MUTATIONS, f.prod_graph)


def test_every_critical_resource_of_the_prod_graph_with_its_alarms_is_covered() -> None:
    assert check_stack(ALARMED, f.prod_graph()) == []


def test_a_plan_without_alarms_reports_each_critical_resource() -> None:
    # GIVEN the committed prod plan stripped of its alarms (as it was before it had any)
    graph = without_alarms(snapshot("prod"))
    critical = sorted(r["urn"] for r in graph if r["type"] in observability.CRITICAL)
    # WHEN validated THEN every critical resource it has is reported, each once
    found = check_stack(ALARMED, graph)
    assert sorted(urn for _, urn in found) == critical
    assert {"prod-alb-lb", "prod-api-service", "prod-docdb-cluster", "prod-redis-group"} <= {
        urn.rsplit("::", 1)[1] for urn in critical
    }


def test_ok_actions_are_required_when_configured() -> None:
    quiet = applied(f.docdb_alarm(), removing("okActions"))
    assert check(observability.alarm_actions_configured, quiet) == []
    assert check(observability.alarm_actions_configured, quiet, settings={"requireOkActions": True}) == [
        "Metric alarms must have OK actions."
    ]


def test_the_engines_property_dependencies_decide_coverage() -> None:
    # GIVEN an alarm whose dimensions the engine records as fed by the cluster, under a name
    # the plan cannot compare, THEN the cluster is covered
    graph = f.prod_graph()
    alarm, cluster = named(graph, "prod-alarm-docdb-cpu"), named(graph, "prod-docdb-cluster")
    alarm["inputs"]["dimensions"] = {"DBClusterIdentifier": "provider-assigned"}
    alarm["propertyDependencies"] = {"dimensions": [cluster["urn"]], "alarmActions": []}
    assert check_stack(ALARMED, graph) == []
    # ... and WHEN the record says the dimensions came from elsewhere, a bare dependency no longer counts
    alarm["dependencies"] = [cluster["urn"]]
    alarm["propertyDependencies"] = {"dimensions": [], "alarmActions": []}
    assert check_stack(ALARMED, graph) == [
        ("DocumentDB clusters must have at least one CloudWatch alarm.", cluster["urn"])
    ]


def test_a_cluster_level_alarm_covers_its_cluster_by_name() -> None:
    # GIVEN the instance alarm replaced by one on the cluster's identifier, typed in the program
    graph = f.prod_graph()
    alarm = named(graph, "prod-alarm-docdb-cpu")
    alarm["inputs"]["dimensions"] = {"DBClusterIdentifier": "notes-prod-docdb"}
    alarm["dependencies"] = []
    assert check_stack(ALARMED, graph) == []


def test_metric_math_alarms_cover_through_their_queries() -> None:
    graph = f.prod_graph()
    alarm = named(graph, "prod-alarm-api-cpu")
    dimensions = alarm["inputs"].pop("dimensions")
    alarm["inputs"]["metricQueries"] = [
        {
            "id": "cpu",
            "metric": {"namespace": "AWS/ECS", "metricName": "CPUUtilization", "dimensions": dimensions},
        },
        {"id": "high", "expression": "cpu > 80", "returnData": True},
    ]
    assert check_stack(ALARMED, graph) == []

"""The CloudWatch metrics this stack alarms on and charts, as AWS publishes them.

An alarm on a metric name or a dimension set that AWS never publishes is accepted by
CloudWatch and then sits in INSUFFICIENT_DATA (or, worse, OK under ``notBreaching``) for ever:
nobody is told. Every alarm and dashboard widget is built from this one table, and the tests
check every metric they reference against it.

Sources, per namespace: the CloudWatch metrics pages of Elastic Load Balancing (Application
Load Balancers), ECS (service metrics and Container Insights), Container Insights on EKS,
DocumentDB, ElastiCache (host level and Redis OSS), CloudFront, WAF, SQS and Lambda.
"""

from __future__ import annotations

from collections.abc import Mapping

ALB = "AWS/ApplicationELB"
ECS = "AWS/ECS"
CONTAINER_INSIGHTS = "ECS/ContainerInsights"
# Container Insights on EKS publishes to a namespace of its own (the API on ``compute: eks``).
EKS_CONTAINER_INSIGHTS = "ContainerInsights"
DOCDB = "AWS/DocDB"
ELASTICACHE = "AWS/ElastiCache"
CLOUDFRONT = "AWS/CloudFront"
WAF = "AWS/WAFV2"
SQS = "AWS/SQS"
LAMBDA = "AWS/Lambda"

# CloudFront publishes its metrics, and WAF those of web ACLs in the CLOUDFRONT scope, in
# us-east-1 only, whatever region the rest of the stack lives in.
GLOBAL_REGION = "us-east-1"
# Dimension value of every CloudFront metric.
CLOUDFRONT_REGION_DIMENSION = "Global"
# WAF's rule name for the totals of a whole web ACL.
WAF_ALL_RULES = "ALL"

DimensionSet = frozenset[str]


def _sets(*sets: tuple[str, ...]) -> frozenset[DimensionSet]:
    return frozenset(frozenset(names) for names in sets)


# ALB metrics about requests exist per load balancer, per target group and per AZ.
_ALB_REQUEST_DIMENSIONS = _sets(
    ("LoadBalancer",),
    ("AvailabilityZone", "LoadBalancer"),
    ("TargetGroup",),
    ("LoadBalancer", "TargetGroup"),
    ("AvailabilityZone", "LoadBalancer", "TargetGroup"),
)
# Responses the load balancer generates itself belong to no target group.
_ALB_OWN_DIMENSIONS = _sets(("LoadBalancer",), ("AvailabilityZone", "LoadBalancer"))
# Health counts exist only for a target group of a load balancer.
_ALB_HEALTH_DIMENSIONS = _sets(
    ("LoadBalancer", "TargetGroup"), ("AvailabilityZone", "LoadBalancer", "TargetGroup")
)
_ECS_SERVICE_DIMENSIONS = _sets(("ClusterName",), ("ClusterName", "ServiceName"))
_INSIGHTS_SERVICE_DIMENSIONS = _sets(("ClusterName", "ServiceName"))
# "Amazon EKS and Kubernetes Container Insights metrics" (CloudWatch User Guide,
# https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/Container-Insights-metrics-EKS.html):
# pod CPU and memory per pod, namespace, Kubernetes Service or cluster; restarts per pod only;
# running pods per Service or cluster.
_EKS_POD_DIMENSIONS = _sets(
    ("PodName", "Namespace", "ClusterName"),
    ("Namespace", "ClusterName"),
    ("Service", "Namespace", "ClusterName"),
    ("ClusterName",),
)
# Instance metrics are published per instance, per cluster and per cluster role (WRITER/READER).
_DOCDB_INSTANCE_DIMENSIONS = _sets(
    ("DBInstanceIdentifier",), ("DBClusterIdentifier",), ("DBClusterIdentifier", "Role")
)
# Every ElastiCache metric is measured per node; a Redis OSS cluster-mode-disabled member
# cluster has exactly one node ("0001"), so its cluster id alone names it too.
_ELASTICACHE_NODE_DIMENSIONS = _sets(("CacheClusterId",), ("CacheClusterId", "CacheNodeId"))
# CloudFront's metrics carry Region=Global; WAF's CLOUDFRONT-scope ACLs have no Region.
_CLOUDFRONT_DIMENSIONS = _sets(("DistributionId", "Region"))
_WAF_DIMENSIONS = _sets(("WebACL", "Rule"), ("Region", "WebACL", "Rule"))
# "Available CloudWatch metrics for Amazon SQS" (SQS Developer Guide,
# https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html):
# QueueName is the only dimension SQS publishes.
_SQS_QUEUE_DIMENSIONS = _sets(("QueueName",))
# "Types of metrics for Lambda functions" (Lambda Developer Guide,
# https://docs.aws.amazon.com/lambda/latest/dg/monitoring-metrics-types.html): invocation metrics
# per FunctionName (also per Resource, a version or alias, and aggregated over all functions).
_LAMBDA_FUNCTION_DIMENSIONS = _sets(("FunctionName",), ("FunctionName", "Resource"))

CATALOG: Mapping[str, Mapping[str, frozenset[DimensionSet]]] = {
    ALB: {
        "RequestCount": _ALB_REQUEST_DIMENSIONS,
        "HTTPCode_Target_2XX_Count": _ALB_REQUEST_DIMENSIONS,
        "HTTPCode_Target_4XX_Count": _ALB_REQUEST_DIMENSIONS,
        "HTTPCode_Target_5XX_Count": _ALB_REQUEST_DIMENSIONS,
        "TargetResponseTime": _ALB_REQUEST_DIMENSIONS,
        "HTTPCode_ELB_5XX_Count": _ALB_OWN_DIMENSIONS,
        "HTTPCode_ELB_4XX_Count": _ALB_OWN_DIMENSIONS,
        "ActiveConnectionCount": _ALB_OWN_DIMENSIONS,
        "HealthyHostCount": _ALB_HEALTH_DIMENSIONS,
        "UnHealthyHostCount": _ALB_HEALTH_DIMENSIONS,
    },
    ECS: {
        "CPUUtilization": _ECS_SERVICE_DIMENSIONS,
        "MemoryUtilization": _ECS_SERVICE_DIMENSIONS,
    },
    # Published only with Container Insights on the cluster (infra/ecs.py turns it on).
    CONTAINER_INSIGHTS: {
        "RunningTaskCount": _INSIGHTS_SERVICE_DIMENSIONS,
        "DesiredTaskCount": _INSIGHTS_SERVICE_DIMENSIONS,
        "PendingTaskCount": _INSIGHTS_SERVICE_DIMENSIONS,
    },
    EKS_CONTAINER_INSIGHTS: {
        "pod_cpu_utilization": _EKS_POD_DIMENSIONS,
        "pod_memory_utilization": _EKS_POD_DIMENSIONS,
        "pod_cpu_utilization_over_pod_limit": _EKS_POD_DIMENSIONS,
        "pod_memory_utilization_over_pod_limit": _EKS_POD_DIMENSIONS,
        "pod_number_of_container_restarts": _sets(("PodName", "Namespace", "ClusterName")),
        "service_number_of_running_pods": _sets(("Service", "Namespace", "ClusterName"), ("ClusterName",)),
        "cluster_failed_node_count": _sets(("ClusterName",)),
        "cluster_node_count": _sets(("ClusterName",)),
    },
    DOCDB: {
        "CPUUtilization": _DOCDB_INSTANCE_DIMENSIONS,
        "FreeableMemory": _DOCDB_INSTANCE_DIMENSIONS,
        "DatabaseConnections": _DOCDB_INSTANCE_DIMENSIONS,
        # Reported by each replica about itself; the writer reports none.
        "DBInstanceReplicaLag": _sets(("DBInstanceIdentifier",)),
        # Reported by the writer about its replicas, for the cluster as a whole.
        "DBClusterReplicaLagMaximum": _sets(("DBClusterIdentifier",)),
    },
    ELASTICACHE: {
        "CPUUtilization": _ELASTICACHE_NODE_DIMENSIONS,
        "EngineCPUUtilization": _ELASTICACHE_NODE_DIMENSIONS,
        "DatabaseMemoryUsagePercentage": _ELASTICACHE_NODE_DIMENSIONS,
        "Evictions": _ELASTICACHE_NODE_DIMENSIONS,
        "CurrConnections": _ELASTICACHE_NODE_DIMENSIONS,
        "CacheHits": _ELASTICACHE_NODE_DIMENSIONS,
        "CacheMisses": _ELASTICACHE_NODE_DIMENSIONS,
        # Reported by replicas only.
        "ReplicationLag": _ELASTICACHE_NODE_DIMENSIONS,
    },
    CLOUDFRONT: {
        "Requests": _CLOUDFRONT_DIMENSIONS,
        "4xxErrorRate": _CLOUDFRONT_DIMENSIONS,
        "5xxErrorRate": _CLOUDFRONT_DIMENSIONS,
    },
    WAF: {
        "AllowedRequests": _WAF_DIMENSIONS,
        "BlockedRequests": _WAF_DIMENSIONS,
    },
    # Published only while a queue is active: it holds messages, or was called in the last six
    # hours (same guide, "Monitoring Amazon SQS queues using CloudWatch").
    SQS: {
        "ApproximateAgeOfOldestMessage": _SQS_QUEUE_DIMENSIONS,
        "ApproximateNumberOfMessagesVisible": _SQS_QUEUE_DIMENSIONS,
        "ApproximateNumberOfMessagesNotVisible": _SQS_QUEUE_DIMENSIONS,
        "NumberOfMessagesSent": _SQS_QUEUE_DIMENSIONS,
        "NumberOfMessagesDeleted": _SQS_QUEUE_DIMENSIONS,
    },
    # Published only for periods with invocations (the rotation functions run once per rotation).
    LAMBDA: {
        "Invocations": _LAMBDA_FUNCTION_DIMENSIONS,
        "Errors": _LAMBDA_FUNCTION_DIMENSIONS,
        "Throttles": _LAMBDA_FUNCTION_DIMENSIONS,
    },
}


# Requests per period below which the 5xx rate reads 0; the alarm and the dashboard default to it.
DEFAULT_MIN_REQUESTS = 50


def error_rate_expression(*, requests: str, target_5xx: str, elb_5xx: str, min_requests: int) -> str:
    """Percent of requests answered with a 5xx, by the tasks or by the load balancer itself
    (502/503/504 when no healthy task answers). Below ``min_requests`` in a period the rate
    says little (one error in three requests is 33 %), so it reads 0; gaps in the error counts
    are periods without errors."""
    return (
        f"IF(FILL({requests}, 0) >= {min_requests}, "
        f"100 * (FILL({target_5xx}, 0) + FILL({elb_5xx}, 0)) / FILL({requests}, 0), 0)"
    )


def published(namespace: str, name: str, dimensions: DimensionSet) -> bool:
    """Whether AWS publishes ``name`` in ``namespace`` with exactly these dimension names."""
    return frozenset(dimensions) in CATALOG.get(namespace, {}).get(name, frozenset())


def check(namespace: str, name: str, dimensions: DimensionSet) -> None:
    """Refuse a metric AWS does not publish, saying what it does publish instead."""
    metrics = CATALOG.get(namespace)
    if metrics is None:
        raise ValueError(f"namespace {namespace!r} is not in the metrics catalog: add it with its source")
    allowed = metrics.get(name)
    if allowed is None:
        raise ValueError(f"{namespace} publishes no metric {name!r} this stack knows: {sorted(metrics)}")
    if frozenset(dimensions) not in allowed:
        raise ValueError(
            f"{namespace} {name} is not published with dimensions {sorted(dimensions)}; "
            f"it is with {sorted(sorted(s) for s in allowed)}"
        )

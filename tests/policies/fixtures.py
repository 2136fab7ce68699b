"""Happy-path resources: from the committed prod plan where the program makes them, written out
in the same wire shape where it does not yet (CloudFront, WAF, alarms, topics, IAM variants)."""

from __future__ import annotations

import json

from policies.notes_policies import resource_types as t
from tests.policies.harness import (
    ACCOUNT,
    Resource,
    from_snapshot,
    resource,
    snapshot,
    urn,
    us_east_1_provider,
)

ACL_NAME = "notes-prod-edge"
ACL_ARN = f"arn:aws:wafv2:us-east-1:{ACCOUNT}:global/webacl/{ACL_NAME}/0f1e2d3c"
TOPIC_ARN = f"arn:aws:sns:eu-west-1:{ACCOUNT}:notes-prod-alarms"
EDGE_CERTIFICATE = urn("prod", "Edge", t.ACM_CERTIFICATE, "prod-edge-certificate")
EDGE_VALIDATION = urn("prod", "Edge", t.ACM_CERTIFICATE_VALIDATION, "prod-edge-certificate-validation")
DOCDB_INSTANCE = urn("prod", "DocumentDb", t.DOCDB_INSTANCE, "prod-docdb-instance-1")
DISTRIBUTION_URN = urn("prod", "Edge", t.DISTRIBUTION, "prod-edge-cdn")
WEB_ACL_URN = urn("prod", "Edge", t.WEB_ACL, "prod-edge-waf")


# From the committed plan


def docdb_cluster() -> Resource:
    return from_snapshot("prod", "prod-docdb-cluster")


def replication_group() -> Resource:
    return from_snapshot("prod", "prod-redis-group")


def task_definition() -> Resource:
    return from_snapshot("prod", "prod-api-task")


def ecs_service() -> Resource:
    return from_snapshot("prod", "prod-api-service")


def ecs_cluster() -> Resource:
    return from_snapshot("prod", "prod-api-cluster")


def ecr_repository() -> Resource:
    return from_snapshot("prod", "prod-image-repository")


def load_balancer() -> Resource:
    return from_snapshot("prod", "prod-alb-lb")


def https_listener() -> Resource:
    return from_snapshot("prod", "prod-alb-https")


def http_listener() -> Resource:
    return from_snapshot("prod", "prod-alb-http")


def ingress_rule() -> Resource:
    return from_snapshot("prod", "prod-network-endpoints-in-https-vpc")


def default_security_group() -> Resource:
    return from_snapshot("prod", "prod-network-default-sg")


def public_subnet() -> Resource:
    return from_snapshot("prod", "prod-network-public-eu-west-1a")


def flow_log() -> Resource:
    return from_snapshot("prod", "prod-network-flow-log")


def kms_key() -> Resource:
    return from_snapshot("prod", "prod-keys-docdb")


def secret() -> Resource:
    return from_snapshot("prod", "prod-docdb-app-secret")


def role_policy() -> Resource:
    return from_snapshot("prod", "prod-api-execution-policy")


def role() -> Resource:
    return from_snapshot("prod", "prod-api-task-role")


def log_group() -> Resource:
    return from_snapshot("prod", "prod-api-logs")


def vpc() -> Resource:
    return from_snapshot("prod", "prod-network-vpc")


# Not in the plans yet


def security_group_with_inline_rules() -> Resource:
    return resource(
        t.SECURITY_GROUP,
        "prod-sg-inline",
        {
            "description": "inline rules, the older style",
            "vpcId": "vpc-96bc8300618660e3b",
            "ingress": [
                {"cidrBlocks": ["10.30.0.0/16"], "fromPort": 443, "protocol": "tcp", "toPort": 443},
                {"ipv6CidrBlocks": ["2001:db8::/56"], "fromPort": 443, "protocol": "tcp", "toPort": 443},
            ],
        },
        component="SecurityGroups",
    )


def security_group_rule() -> Resource:
    return resource(
        t.SECURITY_GROUP_RULE,
        "prod-sg-rule",
        {
            "type": "ingress",
            "cidrBlocks": ["10.30.0.0/16"],
            "fromPort": 443,
            "toPort": 443,
            "protocol": "tcp",
            "securityGroupId": "sg-0c7dbb8d301332e8d",
        },
        component="SecurityGroups",
    )


def distribution() -> Resource:
    return resource(
        t.DISTRIBUTION,
        "prod-edge-cdn",
        {
            "aliases": ["notes.example.com"],
            "enabled": True,
            "isIpv6Enabled": True,
            "defaultCacheBehavior": {
                "allowedMethods": ["DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT"],
                "cachedMethods": ["GET", "HEAD"],
                "targetOriginId": "alb",
                "viewerProtocolPolicy": "redirect-to-https",
            },
            "orderedCacheBehaviors": [
                {
                    "pathPattern": "/health",
                    "allowedMethods": ["GET", "HEAD"],
                    "cachedMethods": ["GET", "HEAD"],
                    "targetOriginId": "alb",
                    "viewerProtocolPolicy": "https-only",
                }
            ],
            "origins": [
                {
                    "domainName": "origin.notes.example.com",
                    "originId": "alb",
                    "customOriginConfig": {
                        "httpPort": 80,
                        "httpsPort": 443,
                        "originProtocolPolicy": "https-only",
                        "originSslProtocols": ["TLSv1.2"],
                    },
                }
            ],
            "viewerCertificate": {
                "acmCertificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/prod-edge-certificate-1",
                "minimumProtocolVersion": "TLSv1.2_2021",
                "sslSupportMethod": "sni-only",
            },
            "webAclId": ACL_ARN,
            "loggingConfig": {"bucket": "notes-prod-cdn-logs.s3.amazonaws.com", "prefix": "cdn/"},
            "restrictions": {"geoRestriction": {"restrictionType": "none"}},
        },
        # The distribution waits for the certificate's validation, as the edge component has it.
        dependencies=[EDGE_VALIDATION, WEB_ACL_URN],
    )


def edge_certificate() -> Resource:
    return resource(
        t.ACM_CERTIFICATE,
        "prod-edge-certificate",
        {"domainName": "notes.example.com", "validationMethod": "DNS"},
        provider="aws-us-east-1",
    )


def edge_certificate_validation() -> Resource:
    return resource(
        t.ACM_CERTIFICATE_VALIDATION,
        "prod-edge-certificate-validation",
        {
            "certificateArn": f"arn:aws:acm:us-east-1:{ACCOUNT}:certificate/prod-edge-certificate-1",
            "validationRecordFqdns": ["_0a1b2c3d4e5f.notes.example.com"],
        },
        provider="aws-us-east-1",
        dependencies=[EDGE_CERTIFICATE],
    )


def web_acl() -> Resource:
    def visibility(metric: str) -> dict[str, object]:
        return {"cloudwatchMetricsEnabled": True, "metricName": metric, "sampledRequestsEnabled": True}

    return resource(
        t.WEB_ACL,
        "prod-edge-waf",
        {
            "name": ACL_NAME,
            "scope": "CLOUDFRONT",
            "defaultAction": {"allow": {}},
            "visibilityConfig": visibility("notes-prod-edge"),
            "rules": [
                {
                    "name": "aws-common",
                    "priority": 0,
                    "overrideAction": {"none": {}},
                    "statement": {
                        "managedRuleGroupStatement": {
                            "name": "AWSManagedRulesCommonRuleSet",
                            "vendorName": "AWS",
                        }
                    },
                    "visibilityConfig": visibility("aws-common"),
                },
                {
                    "name": "rate-limit",
                    "priority": 1,
                    "action": {"block": {}},
                    "statement": {"rateBasedStatement": {"aggregateKeyType": "IP", "limit": 2000}},
                    "visibilityConfig": visibility("rate-limit"),
                },
            ],
        },
        provider="aws-us-east-1",
    )


def web_acl_logging() -> Resource:
    return resource(
        t.WEB_ACL_LOGGING,
        "prod-edge-waf-logging",
        {
            "resourceArn": ACL_ARN,
            "logDestinationConfigs": [f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:aws-waf-logs-notes-prod"],
        },
        provider="aws-us-east-1",
        dependencies=[WEB_ACL_URN],
    )


def topic() -> Resource:
    return resource(
        t.SNS_TOPIC,
        "prod-alarms-topic",
        {"name": "notes-prod-alarms", "kmsMasterKeyId": f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/prod-keys-sns"},
        component="Alarms",
    )


def alarm(name: str, namespace: str, metric: str, dimensions: dict[str, str], **extra: object) -> Resource:
    inputs: dict[str, object] = {
        "name": f"notes-{name}",
        "namespace": namespace,
        "metricName": metric,
        "dimensions": dimensions,
        "statistic": "Average",
        "period": 60,
        "evaluationPeriods": 5,
        "threshold": 80,
        "comparisonOperator": "GreaterThanThreshold",
        "alarmActions": [TOPIC_ARN],
        "okActions": [TOPIC_ARN],
    }
    return resource(t.METRIC_ALARM, name, inputs, component="Alarms", **extra)


def docdb_alarm() -> Resource:
    # DocumentDB publishes CPU per instance; the identifier is the instance's output.
    return alarm(
        "prod-alarm-docdb-cpu",
        "AWS/DocDB",
        "CPUUtilization",
        {"DBInstanceIdentifier": "notes-prod-docdb-1"},
        dependencies=[DOCDB_INSTANCE],
    )


def alarms() -> list[Resource]:
    """One alarm per critical resource, each recognised a different way: through an instance of
    the cluster, by a node of the group, by the ARN suffix, by the service's name, or
    (CloudFront's id being an output) by its dependency on the distribution."""
    return [
        docdb_alarm(),
        alarm(
            "prod-alarm-redis-memory",
            "AWS/ElastiCache",
            "DatabaseMemoryUsagePercentage",
            {
                "CacheClusterId": "notes-prod-redis-001",
            },
        ),
        alarm(
            "prod-alarm-alb-5xx",
            "AWS/ApplicationELB",
            "HTTPCode_Target_5XX_Count",
            {
                "LoadBalancer": "app/notes-prod/48a879fa31",
            },
        ),
        alarm(
            "prod-alarm-api-cpu",
            "AWS/ECS",
            "CPUUtilization",
            {
                "ClusterName": "notes-prod",
                "ServiceName": "notes-prod-api",
            },
        ),
        # The export worker's service, by its name, as WorkerAlarms watches its running tasks.
        alarm(
            "prod-alarm-worker-tasks",
            "ECS/ContainerInsights",
            "RunningTaskCount",
            {"ClusterName": "notes-prod", "ServiceName": "notes-prod-worker"},
        ),
        alarm(
            "prod-alarm-cdn-5xx",
            "AWS/CloudFront",
            "5xxErrorRate",
            {"DistributionId": "E2EXAMPLE00000", "Region": "Global"},
            dependencies=[DISTRIBUTION_URN],
        ),
        # The exports queues, by their QueueName (the queues' own name property).
        alarm(
            "prod-alarm-exports-oldest",
            "AWS/SQS",
            "ApproximateAgeOfOldestMessage",
            {"QueueName": "notes-prod-exports"},
        ),
        alarm(
            "prod-alarm-exports-dlq",
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            {"QueueName": "notes-prod-exports-dlq"},
        ),
    ]


def iam_policy() -> Resource:
    return resource(
        "aws:iam/policy:Policy",
        "prod-deploy-policy",
        {
            "name": "notes-prod-deploy",
            "policy": (
                '{"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": '
                '["ecs:UpdateService", "ecs:DescribeServices"], "Resource": "*"}]}'
            ),
        },
        component="Deploy",
    )


def role_with_inline_policy() -> Resource:
    base = role()
    base["inputs"]["inlinePolicies"] = [
        {"name": "read-notes", "policy": '{"Statement": [{"Effect": "Allow", "Action": "s3:GetObject"}]}'}
    ]
    base["inputs"]["managedPolicyArns"] = ["arn:aws:iam::aws:policy/ReadOnlyAccess"]
    return base


def policy_attachment() -> Resource:
    return resource(
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "prod-api-read-only",
        {"role": "notes-prod-api-task", "policyArn": "arn:aws:iam::aws:policy/ReadOnlyAccess"},
        component="ApiService",
    )


# Note exports: the queue, its dead-letter queue and the bucket, as infra/exports makes them
# under mocks (the queue reaches its dead-letter queue through a dependency; the ARN in its
# redrive policy is the mocks', which names no queue).

EXPORTS_KEY = f"arn:aws:kms:eu-west-1:{ACCOUNT}:key/prod-keys-exports"
EXPORTS_DLQ_URN = urn("prod", "ExportQueue", t.SQS_QUEUE, "prod-exports-dlq")
EXPORTS_QUEUE_URN = urn("prod", "ExportQueue", t.SQS_QUEUE, "prod-exports-queue")
EXPORTS_BUCKET_URN = urn("prod", "ExportBucket", "aws:s3/bucket:Bucket", "prod-exports-bucket")
EXPORTS_BUCKET_NAME = "notes-prod-exports-125c6824"
# The ALB's log bucket of the committed prod plan: the exports' server access logs go there.
ALB_LOG_BUCKET_NAME = "notes-prod-alb-logs-37437a6b"


def _queue(name: str, inputs: dict[str, object], **extra: object) -> Resource:
    encryption = {"kmsMasterKeyId": EXPORTS_KEY, "kmsDataKeyReusePeriodSeconds": 300}
    return resource(
        t.SQS_QUEUE,
        name,
        {**encryption, "receiveWaitTimeSeconds": 20, **inputs},
        component="ExportQueue",
        **extra,
    )


def exports_dlq() -> Resource:
    return _queue(
        "prod-exports-dlq", {"name": "notes-prod-exports-dlq", "messageRetentionSeconds": 1_209_600}
    )


def exports_queue() -> Resource:
    redrive = {
        "deadLetterTargetArn": f"arn:aws:sqs:eu-west-1:{ACCOUNT}:queue/prod-exports-dlq-650d8b14",
        "maxReceiveCount": 5,
    }
    return _queue(
        "prod-exports-queue",
        {
            "name": "notes-prod-exports",
            "messageRetentionSeconds": 345_600,
            "visibilityTimeoutSeconds": 900,
            "redrivePolicy": json.dumps(redrive),
        },
        dependencies=[EXPORTS_DLQ_URN],
    )


def _on_exports_bucket(type_token: str, name: str, inputs: dict[str, object]) -> Resource:
    return resource(
        type_token,
        name,
        {"bucket": EXPORTS_BUCKET_NAME, **inputs},
        component="ExportBucket",
        dependencies=[EXPORTS_BUCKET_URN],
    )


def exports_bucket() -> list[Resource]:
    """The bucket with its public access block, SSE-KMS default, TLS-only policy and access
    logging into the ALB's log bucket."""
    arn = f"arn:aws:s3:::{EXPORTS_BUCKET_NAME}"
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [arn, f"{arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }
    encryption = {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": EXPORTS_KEY}
    switches = ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets")
    return [
        resource(
            "aws:s3/bucket:Bucket",
            "prod-exports-bucket",
            {"bucketPrefix": "notes-prod-exports-", "forceDestroy": False},
            component="ExportBucket",
            protect=True,
        ),
        _on_exports_bucket(
            t.BUCKET_PUBLIC_ACCESS_BLOCK, "prod-exports-bucket-public-access", dict.fromkeys(switches, True)
        ),
        _on_exports_bucket(
            "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
            "prod-exports-encryption",
            {"rules": [{"applyServerSideEncryptionByDefault": encryption, "bucketKeyEnabled": True}]},
        ),
        _on_exports_bucket(t.BUCKET_POLICY, "prod-exports-policy", {"policy": json.dumps(policy)}),
        # Depends on the bucket whose requests it logs, and names the target only by value.
        _on_exports_bucket(
            "aws:s3/bucketLogging:BucketLogging",
            "prod-exports-access-logs",
            {"targetBucket": ALB_LOG_BUCKET_NAME, "targetPrefix": "s3/exports/"},
        ),
    ]


def exports() -> list[Resource]:
    return [exports_dlq(), exports_queue(), *exports_bucket()]


def prod_graph_with_exports() -> list[Resource]:
    """prod_graph() with the exports' queues and bucket in place of whatever the plan has of
    them (the plan's alarms are already replaced, the queues' among them)."""
    extra = exports()
    names = {r["name"] for r in extra}
    return [r for r in prod_graph() if r["name"] not in names] + extra


# What prod_graph() puts in place of the plan's own: the tests change these one at a time.
STANDING_IN = frozenset(
    {
        t.DISTRIBUTION,
        t.ACM_CERTIFICATE_VALIDATION,
        t.WEB_ACL,
        t.WEB_ACL_LOGGING,
        t.LOG_DELIVERY_SOURCE,
        t.METRIC_ALARM,
    }
)


def prod_graph() -> list[Resource]:
    """The committed prod plan with a known edge and one alarm per critical resource: whatever
    edge and alarms the plan has (or has not yet) are replaced by these fixtures."""
    known = [
        us_east_1_provider(),
        edge_certificate(),
        edge_certificate_validation(),
        distribution(),
        web_acl(),
        web_acl_logging(),
        topic(),
        *alarms(),
    ]
    taken = {r["urn"] for r in known}
    plan = [
        r
        for r in snapshot("prod")
        if r["type"] not in STANDING_IN and r["urn"] not in taken and not _planned_export(r)
    ]
    return plan + known


def _planned_export(r: Resource) -> bool:
    """The plan's own exports queues and bucket: exports() stands in for them where a test wants
    them (prod_graph_with_exports), under the fixtures' names."""
    return any(f"notes:infra:{kind}" in r["urn"] for kind in ("ExportBucket", "ExportQueue"))

"""One pricer per billable resource type: what the resource's inputs and the usage make it cost.
Every AWS fact a pricer uses (how a charge is counted) names its source next to it; the prices
themselves are in the tables (``prices/*.json``)."""

from __future__ import annotations

from decimal import Decimal
from typing import TYPE_CHECKING, Any

from notes_platform.cost.backup import backup_plan
from notes_platform.cost.context import HOURS_PER_MONTH, SECONDS_PER_MONTH, Context, Line, Pricer

if TYPE_CHECKING:
    from notes_platform.graph.mocks import Recorded

GB = Decimal(10) ** 9  # AWS bills data in decimal gigabytes
KB_PER_GB = Decimal(10) ** 6
DAYS_PER_MONTH = HOURS_PER_MONTH / 24
# ALB LCU dimensions (https://handbook.vantage.sh/aws/services/elb-pricing): an LCU is 25 new
# connections/s, 3,000 active connections/min, 1 GB/h processed or 1,000 rule evaluations/s; the
# highest dimension is billed. Active connections and rule evaluations (one rule, the first 10
# are free) stay far below the other two here.
LCU_NEW_CONNECTIONS_PER_SECOND = Decimal(25)
LCU_GB_PER_HOUR = Decimal(1)
# Alarm metrics with a period under 60 s are high resolution (CloudWatch pricing, alarms).
HIGH_RESOLUTION_BELOW_SECONDS = 60
# Per-account CloudWatch free tier: 3 dashboards, 10 alarm metrics (https://aws.amazon.com/cloudwatch/
# pricing/, free tier; not seen on a page from here, so applied only with usage free_tier: true).
FREE_DASHBOARDS = 3
FREE_ALARM_METRICS = 10


def _d(value: Any) -> Decimal:
    return Decimal(str(value))


def _requests(context: Context) -> Decimal:
    return Decimal(context.usage.requests_per_month)


def nat_gateway(context: Context, nat: Recorded) -> list[Line]:
    # Data through NAT is split evenly across the gateways (one per AZ, or one for all).
    gateways = len(context.of_type(nat.type)) or 1
    return [
        context.line(nat, "nat_gateway_hour", "NAT gateway hours", HOURS_PER_MONTH),
        context.line(nat, "nat_gateway_gb", "NAT data processed", context.usage.nat_gb_per_month / gateways),
    ]


def elastic_ip(context: Context, eip: Recorded) -> list[Line]:
    # Every public IPv4 address is billed per hour since 2024-02-01, in use or not.
    return [context.line(eip, "public_ipv4_hour", "public IPv4 address (Elastic IP)", HOURS_PER_MONTH)]


def vpc_endpoint(context: Context, endpoint: Recorded) -> list[Line]:
    if endpoint.inputs.get("vpcEndpointType") != "Interface":
        return []  # gateway endpoints (S3) cost nothing
    azs = len(endpoint.inputs.get("subnetIds") or ()) or 1
    interface = [r for r in context.of_type(endpoint.type) if r.inputs.get("vpcEndpointType") == "Interface"]
    service = str(endpoint.inputs.get("serviceName", "")).rsplit(".", 1)[-1]
    return [
        context.line(
            endpoint, "interface_endpoint_az_hour", f"{service} endpoint, {azs} AZ", HOURS_PER_MONTH * azs
        ),
        context.line(
            endpoint,
            "interface_endpoint_gb",
            "endpoint data processed",
            context.usage.endpoint_gb_per_month / len(interface),
        ),
    ]


def load_balancer(context: Context, alb: Recorded) -> list[Line]:
    usage = context.usage
    processed_gb_per_hour = (
        _requests(context) * (usage.request_kb + usage.response_kb) / KB_PER_GB / HOURS_PER_MONTH
    )
    new_connections = _requests(context) / SECONDS_PER_MONTH / usage.requests_per_origin_connection
    lcus = max(processed_gb_per_hour / LCU_GB_PER_HOUR, new_connections / LCU_NEW_CONNECTIONS_PER_SECOND)
    lines = [
        context.line(alb, "alb_hour", "load balancer hours", HOURS_PER_MONTH),
        context.line(alb, "alb_lcu_hour", "LCU-hours (traffic spread evenly)", lcus * HOURS_PER_MONTH),
    ]
    if not alb.inputs.get("internal"):
        # An internet-facing ALB holds a public IPv4 address in each of its subnets' AZs.
        azs = len(alb.inputs.get("subnets") or ())
        lines.append(
            context.line(alb, "public_ipv4_hour", f"public IPv4 addresses, {azs} AZ", HOURS_PER_MONTH * azs)
        )
    return lines


def split_tasks(strategies: list[dict[str, Any]], tasks: Decimal) -> tuple[Decimal, Decimal]:
    """(on-demand, Spot) tasks for ``tasks`` running under a capacity provider strategy: ``base``
    tasks first go to the provider that names one, the rest split by ``weight``
    (https://docs.aws.amazon.com/AmazonECS/latest/developerguide/cluster-capacity-providers.html)."""
    if not strategies:
        return tasks, Decimal(0)
    counts = {s["capacityProvider"]: Decimal(0) for s in strategies}
    remaining = tasks
    for strategy in strategies:
        base = min(remaining, _d(strategy.get("base") or 0))
        counts[strategy["capacityProvider"]] += base
        remaining -= base
    weights = {s["capacityProvider"]: _d(s.get("weight") or 0) for s in strategies}
    total_weight = sum(weights.values(), Decimal(0))
    if remaining > 0 and total_weight > 0:
        for provider, weight in weights.items():
            counts[provider] += remaining * weight / total_weight
    spot = counts.get("FARGATE_SPOT", Decimal(0))
    return tasks - spot, spot


# The export worker's ECS service is ``notes-<env>-worker`` (infra/worker.py, worker_service_name).
WORKER_SERVICE_SUFFIX = "-worker"
# The exports bucket's generated name starts ``notes-<env>-exports-`` (infra/exports/bucket.py).
EXPORTS_BUCKET_MARK = "-exports-"
SQS_FREE_REQUESTS = "sqs_free_requests"


def is_worker(service: Recorded) -> bool:
    return str(service.inputs.get("name", "")).endswith(WORKER_SERVICE_SUFFIX)


def running_tasks(context: Context, service: Recorded) -> Decimal:
    """A service's average running tasks: the usage's figure for its kind, else its desiredCount."""
    average = context.usage.average_worker_tasks if is_worker(service) else context.usage.average_tasks
    return average if average is not None else _d(service.inputs.get("desiredCount") or 0)


def task_definition(context: Context, service: Recorded) -> Recorded | None:
    definitions = context.of_type("aws:ecs/taskDefinition:TaskDefinition")
    named = [d for d in definitions if d.urn in service.dependencies]
    chosen = named or definitions
    return chosen[0] if chosen else None


def ecs_service(context: Context, service: Recorded) -> list[Line]:
    definition = task_definition(context, service)
    if definition is None:
        return []
    vcpu = _d(definition.inputs.get("cpu", 256)) / 1024
    memory_gb = _d(definition.inputs.get("memory", 512)) / 1024
    tasks = running_tasks(context, service)
    on_demand, spot = split_tasks(list(service.inputs.get("capacityProviderStrategies") or ()), tasks)
    kind = " worker" if is_worker(service) else ""
    lines = []
    for count, prefix, label in (
        (on_demand, "fargate", f"on-demand{kind}"),
        (spot, "fargate_spot", f"Spot{kind}"),
    ):
        if count == 0:
            continue
        lines += [
            context.line(
                service, f"{prefix}_vcpu_hour", f"{count.normalize():f} {label} tasks x {vcpu.normalize():f} "
                "vCPU", count * vcpu * HOURS_PER_MONTH,
            ),
            context.line(
                service, f"{prefix}_gb_hour", f"{count.normalize():f} {label} tasks x "
                f"{memory_gb.normalize():f} GB", count * memory_gb * HOURS_PER_MONTH,
            ),
        ]  # fmt: skip
    return lines


def docdb_instance(context: Context, instance: Recorded) -> list[Line]:
    klass = instance.inputs.get("instanceClass", "?")
    return [context.line(instance, f"docdb_instance_hour:{klass}", f"{klass} hours", HOURS_PER_MONTH)]


def docdb_cluster(context: Context, cluster: Recorded) -> list[Line]:
    # Storage and I/O are the cluster's (one logical copy), whatever the number of instances.
    usage = context.usage
    return [
        context.line(cluster, "docdb_storage_gb_month", "cluster storage", usage.docdb_storage_gb),
        context.line(cluster, "docdb_io_million", "I/O requests", usage.docdb_io_millions_per_month),
    ]


def elasticache_group(context: Context, group: Recorded) -> list[Line]:
    node = group.inputs.get("nodeType", "?")
    nodes = _d(group.inputs.get("numCacheClusters") or 1)
    return [
        context.line(
            group, f"elasticache_node_hour:{node}", f"{nodes} x {node} hours", nodes * HOURS_PER_MONTH
        )
    ]


def distribution(context: Context, dist: Recorded) -> list[Line]:
    requests = _requests(context)
    out_gb = requests * context.usage.response_kb / KB_PER_GB
    if context.usage.free_tier:
        free_requests = context.price("global", "cloudfront_free_requests")
        free_gb = context.price("global", "cloudfront_free_gb")
        requests = max(Decimal(0), requests - (free_requests.usd if free_requests else 0))
        out_gb = max(Decimal(0), out_gb - (free_gb.usd if free_gb else 0))
    return [
        context.global_line(dist, "cloudfront_https_10k_requests", "HTTPS requests", requests / 10_000),
        context.global_line(dist, "cloudfront_data_out_gb", "data out to viewers", out_gb),
    ]


def web_acl(context: Context, acl: Recorded) -> list[Line]:
    rules = len(acl.inputs.get("rules") or ())
    return [
        context.global_line(acl, "waf_web_acl_month", "web ACL", Decimal(1)),
        context.global_line(acl, "waf_rule_month", f"{rules} rules", Decimal(rules)),
        context.global_line(acl, "waf_million_requests", "requests inspected", _requests(context) / 10**6),
    ]


def kms_key(context: Context, key: Recorded) -> list[Line]:
    return [context.line(key, "kms_key_month", "customer managed key", Decimal(1))]


def secret(context: Context, item: Recorded) -> list[Line]:
    return [context.line(item, "secret_month", "secret", Decimal(1))]


def alarm_metrics(alarm: Recorded) -> tuple[int, bool]:
    """(metrics billed, high resolution) of an alarm: a metric math alarm is billed per metric it
    reads, not per expression (CloudWatch pricing: 'per alarm metric')."""
    queries = alarm.inputs.get("metricQueries") or ()
    if queries:
        metrics = [q["metric"] for q in queries if q.get("metric")]
        periods = [int(m.get("period") or 60) for m in metrics]
        return len(metrics), any(p < HIGH_RESOLUTION_BELOW_SECONDS for p in periods)
    return 1, int(alarm.inputs.get("period") or 60) < HIGH_RESOLUTION_BELOW_SECONDS


def metric_alarm(context: Context, alarm: Recorded) -> list[Line]:
    metrics, high = alarm_metrics(alarm)
    billed = Decimal(metrics)
    if context.usage.free_tier:
        alarms = sorted(context.of_type(alarm.type), key=lambda a: a.urn)
        before = sum(alarm_metrics(a)[0] for a in alarms[: alarms.index(alarm)])
        billed = Decimal(max(0, min(metrics, before + metrics - FREE_ALARM_METRICS)))
    key = "alarm_metric_high_resolution_month" if high else "alarm_metric_standard_month"
    return [context.line(alarm, key, f"{metrics} alarm metric(s)", billed)]


def dashboard(context: Context, board: Recorded) -> list[Line]:
    billed = Decimal(1)
    if context.usage.free_tier:
        boards = sorted(r.urn for r in context.of_type(board.type))
        billed = Decimal(1 if boards.index(board.urn) >= FREE_DASHBOARDS else 0)
    return [context.line(board, "dashboard_month", "dashboard", billed)]


def log_ingestion_gb(context: Context, group: Recorded) -> tuple[str, Decimal]:
    """(what, GB a month) a log group ingests, told apart by its name."""
    usage, name = context.usage, str(group.inputs.get("name", ""))
    requests = _requests(context)
    if name.startswith("/ecs/"):
        # The export worker's group logs jobs, not requests.
        worker = name.endswith("/worker")
        api = requests * usage.api_log_bytes_per_request / GB
        return ("export worker logs", usage.worker_log_gb_per_month) if worker else ("API logs", api)
    if name.startswith("aws-waf-logs-"):
        return "WAF logs", requests * usage.waf_log_bytes_per_request / GB
    if "/cloudfront/" in name:
        return "CloudFront access logs", requests * usage.cloudfront_log_bytes_per_request / GB
    if "flow-logs" in name:
        return "VPC flow logs", usage.flow_log_gb_per_month
    if name.startswith("/aws/docdb/"):
        return f"DocumentDB {name.rsplit('/', 1)[-1]} logs", usage.docdb_log_gb_per_month
    return "logs", usage.other_log_gb_per_month


def log_group(context: Context, group: Recorded) -> list[Line]:
    what, ingested = log_ingestion_gb(context, group)
    days = group.inputs.get("retentionInDays")
    # A group without retention keeps everything: show a year's worth, the horizon that matters.
    kept_months = _d(days) / DAYS_PER_MONTH if days else Decimal(12)
    label = f"{days} days" if days else "never expires: a year's worth"
    return [
        context.line(group, "logs_ingest_gb", f"{what} ingested", ingested),
        context.line(group, "logs_storage_gb_month", f"{what} stored ({label})", ingested * kept_months),
    ]


def ecr_repository(context: Context, repository: Recorded) -> list[Line]:
    return [context.line(repository, "ecr_storage_gb_month", "image storage", context.usage.ecr_storage_gb)]


def sqs_queue(context: Context, queue: Recorded) -> list[Line]:
    """The export queue's requests: each job's send, receive and delete, and the long polls of
    every running worker task, one per receive wait while the queue is empty (an upper bound: a
    busy poll returns a job instead). The dead-letter queue is polled by nobody: only a failed
    job's redrive reaches it. Every API action is a request, and each 64 KB of a payload another
    (https://aws.amazon.com/sqs/pricing/; https://cloudburn.io/blog/amazon-sqs-pricing); export
    messages are under 1 KB."""
    if str(queue.inputs.get("name", "")).endswith("-dlq"):
        return []
    usage = context.usage
    jobs = Decimal(usage.exports_per_month) * usage.sqs_requests_per_export
    wait = max(1, int(queue.inputs.get("receiveWaitTimeSeconds") or 0))
    workers = [s for s in context.of_type("aws:ecs/service:Service") if is_worker(s)]
    tasks = sum((running_tasks(context, s) for s in workers), Decimal(0))
    polls = tasks * SECONDS_PER_MONTH / wait
    if usage.free_tier:
        # The first million requests a month are free, per account (same pages).
        free = context.price("global", SQS_FREE_REQUESTS)
        left = free.usd if free else Decimal(0)
        polls, left = max(Decimal(0), polls - left), max(Decimal(0), left - polls)
        jobs = max(Decimal(0), jobs - left)
    million = Decimal(10) ** 6
    return [
        context.line(queue, "sqs_million_requests", "export jobs: send, receive, delete", jobs / million),
        context.line(
            queue, "sqs_million_requests", f"long polls of {tasks.normalize():f} worker tasks ({wait} s)",
            polls / million,
        ),
    ]  # fmt: skip


def _expiry_days(context: Context, bucket: Recorded) -> Decimal:
    """Days the bucket keeps an object: its lifecycle rule's expiry, else a month."""
    days = [
        _d(rule["expiration"]["days"])
        for config in context.of_type("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
        if bucket.urn in config.dependencies
        for rule in config.inputs.get("rules") or ()
        if (rule.get("expiration") or {}).get("days")
    ]
    return min(days) if days else DAYS_PER_MONTH


def s3_bucket(context: Context, bucket: Recorded) -> list[Line]:
    """The exports bucket: exports kept until their expiry, the worker's uploads, and users'
    downloads through presigned URLs (GET requests and data out to the internet). Other buckets
    (the ALB's logs) are not priced (NOT_PRICED)."""
    name = str(bucket.inputs.get("bucketPrefix") or bucket.inputs.get("bucket") or "")
    if EXPORTS_BUCKET_MARK not in name:
        return []
    usage = context.usage
    exports = Decimal(usage.exports_per_month)
    written_gb = exports * usage.export_mb / 1000
    days = _expiry_days(context, bucket)
    downloads = exports * usage.export_downloads
    return [
        # At steady state a month's exports, each kept `days`, occupy this many GB-months.
        context.line(bucket, "s3_standard_gb_month", f"exports stored ({days.normalize():f} days)",
                     written_gb * days * 24 / HOURS_PER_MONTH),
        context.line(bucket, "s3_put_1k_requests", "export uploads (PUT)",
                     exports * usage.s3_put_requests_per_export / 1000),
        context.line(bucket, "s3_get_1k_requests", "export downloads (GET)", downloads / 1000),
        context.line(bucket, "s3_data_out_gb", "export downloads out to the internet",
                     downloads * usage.export_mb / 1000),
    ]  # fmt: skip


PRICERS: dict[str, Pricer] = {
    "aws:ec2/natGateway:NatGateway": nat_gateway,
    "aws:ec2/eip:Eip": elastic_ip,
    "aws:ec2/vpcEndpoint:VpcEndpoint": vpc_endpoint,
    "aws:lb/loadBalancer:LoadBalancer": load_balancer,
    "aws:ecs/service:Service": ecs_service,
    "aws:docdb/clusterInstance:ClusterInstance": docdb_instance,
    "aws:docdb/cluster:Cluster": docdb_cluster,
    "aws:elasticache/replicationGroup:ReplicationGroup": elasticache_group,
    "aws:cloudfront/distribution:Distribution": distribution,
    "aws:wafv2/webAcl:WebAcl": web_acl,
    "aws:kms/key:Key": kms_key,
    "aws:secretsmanager/secret:Secret": secret,
    "aws:cloudwatch/metricAlarm:MetricAlarm": metric_alarm,
    "aws:cloudwatch/dashboard:Dashboard": dashboard,
    "aws:cloudwatch/logGroup:LogGroup": log_group,
    "aws:ecr/repository:Repository": ecr_repository,
    "aws:sqs/queue:Queue": sqs_queue,
    "aws:s3/bucket:Bucket": s3_bucket,
    "aws:backup/plan:Plan": backup_plan,
}

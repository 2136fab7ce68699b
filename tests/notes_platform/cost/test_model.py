"""The cost model: each priced type's arithmetic pinned to exact dollars on a planted resource,
the region taken from the resource's provider, usage files that fail naming the file and key,
and both committed stacks priced with every line accounted for."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from notes_platform.cost.model import Estimate, estimate
from notes_platform.cost.pricers import split_tasks
from notes_platform.cost.usage import USAGE_DIR, Usage, UsageError, load_usage
from notes_platform.graph.mocks import Recorded
from notes_platform.graph.plan import Plan
from tests import type_tokens as t

STACK = "test"
DEFAULT_PROVIDER = "urn:pulumi:test::notes-platform::pulumi:providers:aws::aws"
EDGE_PROVIDER = "urn:pulumi:test::notes-platform::pulumi:providers:aws::edge-us-east-1"


def provider(urn: str, region: str) -> Recorded:
    return Recorded(
        urn, "pulumi:providers:aws", urn.rsplit("::", 1)[-1], True, None, None, [], False, {"region": region}
    )


def planted(type_: str, inputs: dict[str, Any], *, name: str = "planted", edge: bool = False) -> Recorded:
    return Recorded(
        urn=f"urn:pulumi:test::notes-platform::{type_}::{name}",
        type=type_,
        name=name,
        custom=True,
        parent=None,
        provider=EDGE_PROVIDER if edge else DEFAULT_PROVIDER,
        dependencies=[],
        protect=False,
        inputs=inputs,
    )


def priced(*resources: Recorded, **usage: Any) -> Estimate:
    graph = [provider(DEFAULT_PROVIDER, "eu-west-1"), provider(EDGE_PROVIDER, "us-east-1"), *resources]
    return estimate(graph, STACK, Usage(**usage))


def dollars(result: Estimate) -> list[tuple[str, str, Decimal]]:
    return [(line.what, line.region, line.monthly) for line in result.lines]


TASK = planted("aws:ecs/taskDefinition:TaskDefinition", {"cpu": "256", "memory": "512"}, name="task")
SPOT_STRATEGY = [
    {"base": 1, "capacityProvider": "FARGATE", "weight": 1},
    {"base": 0, "capacityProvider": "FARGATE_SPOT", "weight": 3},
]
ALB = {"internal": False, "loadBalancerType": "application", "subnets": ["a", "b"]}
WORKER_STRATEGY = [
    {"base": 0, "capacityProvider": "FARGATE", "weight": 1},
    {"base": 0, "capacityProvider": "FARGATE_SPOT", "weight": 3},
]
EXPORTS_LIFECYCLE = Recorded(
    urn="urn:pulumi:test::notes-platform::aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration::lc",
    type="aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration",
    name="lc",
    custom=True,
    parent=None,
    provider=DEFAULT_PROVIDER,
    dependencies=["urn:pulumi:test::notes-platform::aws:s3/bucket:Bucket::exports"],
    protect=False,
    inputs={"rules": [{"id": "expire-exports", "status": "Enabled", "expiration": {"days": 73}}]},
)

# (resources, usage overrides, expected (charge, region, monthly USD)). Prices: prices/*.json;
# a month is 730 hours; 1 GB = 10^6 KB.
CASES: list[tuple[str, list[Recorded], dict[str, Any], list[tuple[str, str, Decimal]]]] = [
    (
        "NAT gateway: hours, and its share of the NAT data",
        [planted(t.NAT_GATEWAY, {"connectivityType": "public"})],
        {"nat_gb_per_month": 10},
        [
            ("NAT gateway hours", "eu-west-1", Decimal("35.04")),
            ("NAT data processed", "eu-west-1", Decimal("0.48")),
        ],
    ),
    (
        "Elastic IP: a public IPv4 address every hour",
        [planted(t.EIP, {"domain": "vpc"})],
        {},
        [("public IPv4 address (Elastic IP)", "eu-west-1", Decimal("3.65"))],
    ),
    (
        "interface endpoint: per AZ-hour, plus its share of the endpoint data",
        [
            planted(
                t.VPC_ENDPOINT,
                {
                    "vpcEndpointType": "Interface",
                    "subnetIds": ["a", "b"],
                    "serviceName": "com.amazonaws.eu-west-1.logs",
                },
            )
        ],
        {"endpoint_gb_per_month": 10},
        [
            ("logs endpoint, 2 AZ", "eu-west-1", Decimal("16.06")),
            ("endpoint data processed", "eu-west-1", Decimal("0.10")),
        ],
    ),
    (
        "gateway endpoint (S3): free",
        [
            planted(
                t.VPC_ENDPOINT, {"vpcEndpointType": "Gateway", "serviceName": "com.amazonaws.eu-west-1.s3"}
            )
        ],
        {},
        [],
    ),
    (
        "internet-facing ALB: hours, LCUs from processed bytes, a public IPv4 per AZ",
        [planted(t.LOAD_BALANCER, ALB)],
        # 730,000,000 requests x 1 KB in+out = 730 GB a month = 1 GB/h = 1 LCU all month
        {
            "requests_per_month": 730_000_000,
            "request_kb": 0,
            "response_kb": 1,
            "requests_per_origin_connection": 10**6,
        },
        [
            ("load balancer hours", "eu-west-1", Decimal("18.396")),
            ("LCU-hours (traffic spread evenly)", "eu-west-1", Decimal("5.84")),
            ("public IPv4 addresses, 2 AZ", "eu-west-1", Decimal("7.30")),
        ],
    ),
    (
        "internal ALB: no public address",
        [planted(t.LOAD_BALANCER, {**ALB, "internal": True})],
        {"requests_per_month": 0},
        [
            ("load balancer hours", "eu-west-1", Decimal("18.396")),
            ("LCU-hours (traffic spread evenly)", "eu-west-1", Decimal(0)),
        ],
    ),
    (
        "export worker: its own average tasks (not the API's), no base, 1:3 -> 1 on-demand, 3 Spot",
        [
            TASK,
            planted(
                "aws:ecs/service:Service",
                {
                    "name": "notes-test-worker",
                    "capacityProviderStrategies": WORKER_STRATEGY,
                    "desiredCount": 1,
                },
                name="worker",
            ),
        ],
        {"average_worker_tasks": 4, "average_tasks": 9},
        [
            ("1 on-demand worker tasks x 0.25 vCPU", "eu-west-1", Decimal("7.3876")),
            ("1 on-demand worker tasks x 0.5 GB", "eu-west-1", Decimal("1.622425")),
            ("3 Spot worker tasks x 0.25 vCPU", "eu-west-1", Decimal("6.64884")),
            ("3 Spot worker tasks x 0.5 GB", "eu-west-1", Decimal("1.4601825")),
        ],
    ),
    (
        "SQS: each job's requests, and a long poll per 20 s for each of 2 worker tasks; the DLQ none",
        [
            planted(t.SQS_QUEUE, {"name": "notes-test-exports", "receiveWaitTimeSeconds": 20}, name="queue"),
            planted(
                t.SQS_QUEUE, {"name": "notes-test-exports-dlq", "receiveWaitTimeSeconds": 20}, name="dlq"
            ),
            planted(
                "aws:ecs/service:Service", {"name": "notes-test-worker", "desiredCount": 2}, name="worker"
            ),
        ],
        # 1,000,000 jobs x 3 = 3 M requests; 2 tasks x 2,628,000 s / 20 s = 262,800 polls
        {"exports_per_month": 1_000_000},
        [
            ("export jobs: send, receive, delete", "eu-west-1", Decimal("1.20")),
            ("long polls of 2 worker tasks (20 s)", "eu-west-1", Decimal("0.10512")),
        ],
    ),
    (
        "S3: the exports bucket, kept 73 days (2.4 months), uploads, downloads and data out; the ALB's none",
        [
            planted(t.S3_BUCKET, {"bucketPrefix": "notes-test-exports-"}, name="exports"),
            planted(t.S3_BUCKET, {"bucketPrefix": "notes-test-alb-logs-"}, name="alb-logs"),
            EXPORTS_LIFECYCLE,
        ],
        # 10,000 exports x 1 MB = 10 GB a month, x 2.4 months = 24 GB-months; 20,000 downloads = 20 GB
        {"exports_per_month": 10_000, "export_mb": 1, "export_downloads": 2},
        [
            ("exports stored (73 days)", "eu-west-1", Decimal("0.552")),
            ("export uploads (PUT)", "eu-west-1", Decimal("0.05")),
            ("export downloads (GET)", "eu-west-1", Decimal("0.008")),
            ("export downloads out to the internet", "eu-west-1", Decimal("1.80")),
        ],
    ),
    (
        "the worker's log group: its own GB, not the API's per-request bytes",
        [
            planted(
                t.LOG_GROUP, {"name": "/ecs/notes-test/worker", "retentionInDays": 365}, name="worker-logs"
            )
        ],
        {"worker_log_gb_per_month": 1, "requests_per_month": 10**9},
        [
            ("export worker logs ingested", "eu-west-1", Decimal("0.57")),
            ("export worker logs stored (365 days)", "eu-west-1", Decimal("0.36")),
        ],
    ),
    (
        "Fargate: 5 tasks, base 1 on-demand then 1:3 -> 2 on-demand, 3 Spot, 0.25 vCPU / 0.5 GB each",
        [
            TASK,
            planted(
                "aws:ecs/service:Service", {"capacityProviderStrategies": SPOT_STRATEGY, "desiredCount": 1}
            ),
        ],
        {"average_tasks": 5},
        [
            ("2 on-demand tasks x 0.25 vCPU", "eu-west-1", Decimal("14.7752")),
            ("2 on-demand tasks x 0.5 GB", "eu-west-1", Decimal("3.24485")),
            ("3 Spot tasks x 0.25 vCPU", "eu-west-1", Decimal("6.64884")),
            ("3 Spot tasks x 0.5 GB", "eu-west-1", Decimal("1.4601825")),
        ],
    ),
    (
        "DocumentDB: an instance's hours; the cluster's storage and I/O once",
        [
            planted("aws:docdb/clusterInstance:ClusterInstance", {"instanceClass": "db.r6g.large"}),
            planted("aws:docdb/cluster:Cluster", {"engine": "docdb"}, name="cluster"),
        ],
        {"docdb_storage_gb": 10, "docdb_io_millions_per_month": 10},
        [
            ("db.r6g.large hours", "eu-west-1", Decimal("218.27")),
            ("cluster storage", "eu-west-1", Decimal("1.10")),
            ("I/O requests", "eu-west-1", Decimal("2.20")),
        ],
    ),
    (
        "ElastiCache: every node of the group",
        [
            planted(
                "aws:elasticache/replicationGroup:ReplicationGroup",
                {"nodeType": "cache.r7g.large", "numCacheClusters": 3},
            )
        ],
        {},
        [("3 x cache.r7g.large hours", "eu-west-1", Decimal("532.17"))],
    ),
    (
        "CloudFront: HTTPS requests and data out, tiered: 20,480 GB = 10 TB at 0.085 + 10 TB at 0.080",
        [planted(t.DISTRIBUTION, {"priceClass": "PriceClass_All"}, edge=True)],
        {"requests_per_month": 20_480_000, "response_kb": 1000},
        [
            ("HTTPS requests", "global", Decimal("20.48")),
            ("data out to viewers", "global", Decimal("1689.6")),
        ],
    ),
    (
        "WAF: the ACL, each rule (a managed group is one), requests inspected",
        [
            planted(
                t.WEB_ACL, {"scope": "CLOUDFRONT", "rules": [{"name": f"r{i}"} for i in range(7)]}, edge=True
            )
        ],
        {"requests_per_month": 1_000_000},
        [
            ("web ACL", "global", Decimal("5.00")),
            ("7 rules", "global", Decimal("7.00")),
            ("requests inspected", "global", Decimal("0.60")),
        ],
    ),
    (
        "KMS key in us-east-1 (the edge's provider) and a secret in the stack's region",
        [
            planted(t.KMS_KEY, {"enableKeyRotation": True}, edge=True),
            planted(t.SECRET, {"name": "s"}, name="s"),
        ],
        {},
        [("customer managed key", "us-east-1", Decimal("1.00")), ("secret", "eu-west-1", Decimal("0.40"))],
    ),
    (
        "alarms: standard, high resolution, and metric math billed per metric it reads",
        [
            planted(t.METRIC_ALARM, {"period": 60, "metricName": "CPUUtilization"}, name="a"),
            planted(t.METRIC_ALARM, {"period": 10, "metricName": "CPUUtilization"}, name="b"),
            planted(
                t.METRIC_ALARM,
                {
                    "metricQueries": [
                        {"id": "m1", "metric": {"period": 60}},
                        {"id": "m2", "metric": {"period": 60}},
                        {"id": "m3", "metric": {"period": 60}},
                        {"id": "e", "expression": "m1+m2+m3"},
                    ]
                },
                name="c",
            ),
        ],
        {},
        [
            ("1 alarm metric(s)", "eu-west-1", Decimal("0.10")),
            ("1 alarm metric(s)", "eu-west-1", Decimal("0.30")),
            ("3 alarm metric(s)", "eu-west-1", Decimal("0.30")),
        ],
    ),
    (
        "dashboard: paid, unless the account's free tier is claimed",
        [planted(t.DASHBOARD, {"dashboardName": "d"})],
        {},
        [("dashboard", "eu-west-1", Decimal("3.00"))],
    ),
    (
        "dashboard with the free tier: one of the account's first 3",
        [planted(t.DASHBOARD, {"dashboardName": "d"})],
        {"free_tier": True},
        [("dashboard", "eu-west-1", Decimal(0))],
    ),
    (
        "log groups: API logs in eu-west-1 (0.57/GB), WAF logs in us-east-1 (0.50/GB), 365 days kept",
        [
            planted(t.LOG_GROUP, {"name": "/ecs/notes-test/api", "retentionInDays": 365}, name="api"),
            planted(
                t.LOG_GROUP,
                {"name": "aws-waf-logs-notes-test", "retentionInDays": 365},
                name="waf",
                edge=True,
            ),
        ],
        # 10^7 requests x 1,000 B = 10 GB ingested; kept 365 days = 12 months' worth = 120 GB-month
        {
            "requests_per_month": 10_000_000,
            "api_log_bytes_per_request": 1000,
            "waf_log_bytes_per_request": 1000,
        },
        [
            ("API logs ingested", "eu-west-1", Decimal("5.70")),
            ("API logs stored (365 days)", "eu-west-1", Decimal("3.60")),
            ("WAF logs ingested", "us-east-1", Decimal("5.00")),
            ("WAF logs stored (365 days)", "us-east-1", Decimal("3.60")),
        ],
    ),
    (
        "ECR repository: image storage",
        [planted("aws:ecr/repository:Repository", {"name": "r"})],
        {"ecr_storage_gb": 2},
        [("image storage", "eu-west-1", Decimal("0.20"))],
    ),
]


@pytest.mark.parametrize(
    ("resources", "usage", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_each_priced_type_costs_exact_dollars(
    resources: list[Recorded], usage: dict[str, Any], expected: list[tuple[str, str, Decimal]]
) -> None:
    # GIVEN a planted resource and a usage / WHEN the graph is estimated
    result = priced(*resources, **usage)
    # THEN its lines are exactly these charges, in the region its provider names, to the cent or finer
    assert dollars(result) == expected
    assert result.total == sum((monthly for _, _, monthly in expected), Decimal(0))


def test_a_resource_the_tables_cannot_price_is_named_not_guessed() -> None:
    # GIVEN an instance class the committed table has no price for
    result = priced(
        planted("aws:docdb/clusterInstance:ClusterInstance", {"instanceClass": "db.r6g.24xlarge"})
    )
    # THEN its line says so, counts 0, and the estimate names the key, the region and the URN
    (line,) = result.lines
    assert (line.status, line.monthly) == ("missing", Decimal(0))
    assert result.unpriced == (
        "docdb_instance_hour:db.r6g.24xlarge (eu-west-1) for "
        "urn:pulumi:test::notes-platform::aws:docdb/clusterInstance:ClusterInstance::planted",
    )


def test_unconfirmed_prices_are_marked_on_their_lines() -> None:
    # GIVEN a NAT gateway (eu-west-1's rate is not confirmed on an AWS page) and a KMS key (it is)
    result = priced(planted(t.NAT_GATEWAY, {}), planted(t.KMS_KEY, {}, name="key"))
    # THEN the NAT lines carry 'unconfirmed' and the key's line its AWS source
    statuses = {(line.what, line.status) for line in result.lines}
    assert ("NAT gateway hours", "unconfirmed") in statuses
    assert ("customer managed key", "aws") in statuses
    assert {line.what for line in result.unconfirmed} == {"NAT gateway hours", "NAT data processed"}


@pytest.mark.parametrize(
    ("strategies", "tasks", "expected"),
    [
        ([], Decimal(4), (Decimal(4), Decimal(0))),
        ([{"base": 3, "capacityProvider": "FARGATE", "weight": 1}], Decimal(3), (Decimal(3), Decimal(0))),
        (SPOT_STRATEGY, Decimal(1), (Decimal(1), Decimal(0))),  # the base takes the only task
        (SPOT_STRATEGY, Decimal(9), (Decimal(3), Decimal(6))),  # 1 + 8 x 1/4 on-demand
    ],
)
def test_tasks_split_between_on_demand_and_spot_as_ecs_places_them(
    strategies: list[dict[str, Any]], tasks: Decimal, expected: tuple[Decimal, Decimal]
) -> None:
    assert split_tasks(strategies, tasks) == expected


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("requests_per_month: many\n", r"bad\.yaml: requests_per_month: Input should be a valid integer"),
        (
            "docdb_storage_gb: -1\n",
            r"bad\.yaml: docdb_storage_gb: Input should be greater than or equal to 0",
        ),
        ("requests_per_day: 5\n", r"bad\.yaml: requests_per_day: Extra inputs are not permitted"),
        ("- 1\n- 2\n", r"bad\.yaml: expected a mapping of usage keys, got list"),
        ("a: [\n", r"bad\.yaml: not YAML"),
    ],
)
def test_a_bad_usage_file_names_the_file_and_the_key(tmp_path: Path, content: str, message: str) -> None:
    # GIVEN a usage file with a wrong value, an unknown key or no mapping
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    # WHEN it is loaded / THEN the error names the file and the key
    with pytest.raises(UsageError, match=message):
        load_usage("staging", path)


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_committed_usage_files_load(stack: str) -> None:
    # GIVEN the committed usage file / THEN it loads and differs from the defaults it documents
    assert (USAGE_DIR / f"{stack}.yaml").exists()
    assert load_usage(stack) != Usage()


def test_a_stack_without_a_usage_file_gets_the_documented_defaults() -> None:
    assert load_usage("no-such-stack") == Usage()


def test_staging_costs_less_than_prod_and_every_line_is_priced(plans: dict[str, Plan]) -> None:
    # GIVEN both committed stacks with their usage files / WHEN estimated
    staging, prod = (estimate(plans[s].resources, s, load_usage(s)) for s in ("staging", "prod"))
    # THEN staging, the cheap profile, costs less, and no resource went without a price
    assert staging.total < prod.total, (staging.total, prod.total)
    assert staging.unpriced == () and prod.unpriced == ()
    # and the edge's pieces are priced where the edge's provider registers them
    regions = {(line.type, line.region) for line in prod.lines}
    assert (t.KMS_KEY, "us-east-1") in regions and (t.KMS_KEY, "eu-west-1") in regions
    assert (t.DISTRIBUTION, "global") in regions
    assert prod.prices_date and "prices/eu-west-1.json" in prod.prices_source


def test_prod_pays_for_three_nats_and_their_addresses_staging_for_one(plans: dict[str, Plan]) -> None:
    def count(stack: str, what: str) -> int:
        return sum(line.what == what for line in estimate(plans[stack].resources, stack).lines)

    assert (count("staging", "NAT gateway hours"), count("prod", "NAT gateway hours")) == (1, 3)
    assert count("prod", "public IPv4 address (Elastic IP)") == 3


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_the_export_worker_its_queue_and_its_bucket_are_priced(plans: dict[str, Plan], stack: str) -> None:
    # GIVEN a committed stack with its usage file / WHEN estimated
    result = estimate(plans[stack].resources, stack, load_usage(stack))
    charges = {(line.name, line.what.split(" x ")[0]) for line in result.lines}
    # THEN the worker's Fargate tasks, the queue's jobs and polls and the bucket's exports count
    assert any(name.endswith("-worker-service") and "worker tasks" in what for name, what in charges), charges
    assert any(name.endswith("-exports-queue") and what.startswith("long polls") for name, what in charges)
    assert any(
        name.endswith("-exports-bucket") and what.startswith("exports stored") for name, what in charges
    )
    # AND the API's tasks are still the API's: the worker's average does not price them
    api = [line for line in result.lines if line.name.endswith("-api-service")]
    assert api and all("worker" not in line.what for line in api), [line.what for line in api]

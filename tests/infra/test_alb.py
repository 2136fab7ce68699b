"""LoadBalancer under mocks: TLS 1.3 with a validated certificate, logs that cannot leak, and an
origin lock that forwards only requests carrying CloudFront's secret header."""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest

from infra.alb import DEFAULT_ORIGIN_HEADER_NAME, LoadBalancer, LoadBalancerArgs
from notes_platform.graph.mocks import ACCOUNT_ID, ELB_LOG_ACCOUNTS
from tests.infra.harness import Graph, run
from tests.type_tokens import (
    ACM_CERTIFICATE,
    ACM_VALIDATION,
    LISTENER,
    LISTENER_RULE,
    LOAD_BALANCER,
    S3_BUCKET,
    S3_BUCKET_POLICY,
    TARGET_GROUP,
)

S3_BUCKET_VERSIONING = "aws:s3/bucketVersioning:BucketVersioning"
ORIGIN = "origin.staging.notes.example.com"
ZONE = "Z0STAGINGEXAMPLE01"
CURRENT = "current-origin-secret-value"
PREVIOUS = "previous-origin-secret-value"


def args(**overrides: Any) -> LoadBalancerArgs:
    values: dict[str, Any] = {
        "environment": "staging",
        "region": "eu-west-1",
        "vpc_id": "vpc-0123",
        "public_subnet_ids": ["subnet-a", "subnet-b"],
        "security_group_id": "sg-alb",
        "zone_id": ZONE,
        "origin_name": ORIGIN,
        "origin_secret_values": [pulumi.Output.secret(CURRENT), pulumi.Output.secret(PREVIOUS)],
        "ssl_policy": "ELBSecurityPolicy-TLS13-1-2-2021-06",
        "deletion_protection": False,
        "idle_timeout_seconds": 60,
        "access_log_retention_days": 30,
        "app_port": 8000,
        **overrides,
    }
    return LoadBalancerArgs(**values)


@pytest.fixture(scope="module")
def graph() -> Graph:
    def build() -> pulumi.Output[Any]:
        lb = LoadBalancer("staging-alb", args())
        return pulumi.Output.all(
            dns=lb.dns_name,
            arn_suffix=lb.arn_suffix,
            tg_suffix=lb.target_group_arn_suffix,
            bucket=lb.logs_bucket.id,
            bucket_arn=lb.logs_bucket.arn,
            alb_zone=lb.zone_id,
            tg_arn=lb.target_group.arn,
        )

    return run(build)


def listener(graph: Graph, port: int) -> Any:
    found = [r for r in graph.of_type(LISTENER) if r.inputs["port"] == port]
    assert len(found) == 1, f"expected one listener on {port}: {[r.urn for r in found]}"
    return found[0]


def test_alb_is_public_drops_invalid_headers_and_logs(graph: Graph) -> None:
    # GIVEN the staging-like args / WHEN the component runs
    alb = graph.one(LOAD_BALANCER)
    bucket = graph.one(S3_BUCKET)
    inputs = alb.inputs
    # THEN the ALB is internet-facing in the public subnets behind its security group
    assert inputs["internal"] is False, alb.urn
    assert inputs["loadBalancerType"] == "application", alb.urn
    assert inputs["subnets"] == ["subnet-a", "subnet-b"], alb.urn
    assert inputs["securityGroups"] == ["sg-alb"], alb.urn
    assert inputs["name"] == "notes-staging", alb.urn
    # AND drops malformed headers, honours the idle timeout and the deletion-protection choice
    assert inputs["dropInvalidHeaderFields"] is True, alb.urn
    assert inputs["idleTimeout"] == 60, alb.urn
    assert inputs["enableDeletionProtection"] is False, alb.urn
    assert inputs["enableHttp2"] is True, alb.urn
    # AND writes access logs to the component's bucket, only once the bucket policy exists
    assert inputs["accessLogs"] == {
        "bucket": graph.result["bucket"],
        "enabled": True,
        "prefix": "alb",
    }, alb.urn
    policy = graph.one(S3_BUCKET_POLICY)
    assert policy.urn in alb.dependencies, f"{alb.urn} must wait for {policy.urn}"
    assert bucket.urn in alb.dependencies, alb.urn


def test_log_bucket_is_private_sse_s3_and_expires_logs(graph: Graph) -> None:
    bucket = graph.one(S3_BUCKET)
    assert bucket.inputs["bucketPrefix"].startswith("notes-staging-"), bucket.urn
    block = graph.one("aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock")
    for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
        assert block.inputs[flag] is True, f"{block.urn}: {flag}"
    ownership = graph.one("aws:s3/bucketOwnershipControls:BucketOwnershipControls")
    assert ownership.inputs["rule"] == {"objectOwnership": "BucketOwnerEnforced"}, ownership.urn
    # THEN encryption is SSE-S3: ALB log delivery cannot use a KMS key
    sse = graph.one("aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration")
    assert sse.inputs["rules"] == [{"applyServerSideEncryptionByDefault": {"sseAlgorithm": "AES256"}}], (
        sse.urn
    )
    lifecycle = graph.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    [rule] = lifecycle.inputs["rules"]
    assert rule["status"] == "Enabled", lifecycle.urn
    assert rule["expiration"] == {"days": 30}, lifecycle.urn
    for setting in (block, ownership, sse, lifecycle):
        assert setting.inputs["bucket"] == graph.result["bucket"], setting.urn


def test_log_bucket_keeps_overwritten_logs_as_versions_until_the_retention_ends(graph: Graph) -> None:
    # GIVEN the staging-like args (30 days of retention) / WHEN the component runs
    versioning = graph.one(S3_BUCKET_VERSIONING)
    lifecycle = graph.one("aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration")
    policy = graph.one(S3_BUCKET_POLICY)
    # THEN the bucket is versioned, so an overwrite or a delete keeps the previous log
    assert versioning.inputs["versioningConfiguration"] == {"status": "Enabled"}, versioning.urn
    assert versioning.inputs["bucket"] == graph.result["bucket"], versioning.urn
    # AND a replaced version still goes, once noncurrent as long as a log is kept
    [rule] = lifecycle.inputs["rules"]
    assert rule["noncurrentVersionExpiration"] == {"noncurrentDays": 30}, lifecycle.urn
    # AND the lifecycle and the policy that denies deletes come after versioning is on
    for setting in (lifecycle, policy):
        assert versioning.urn in setting.dependencies, f"{setting.urn} does not wait for {versioning.urn}"


def test_no_principal_may_delete_a_log_or_a_version_of_one(graph: Graph) -> None:
    policy = graph.one(S3_BUCKET_POLICY)
    statements = {s["Sid"]: s for s in json.loads(policy.inputs["policy"])["Statement"]}
    # THEN deleting any object or version is denied to everyone: only the lifecycle rule,
    # which no bucket policy applies to, removes logs
    deny = statements["DenyDeletingLogs"]
    assert deny["Effect"] == "Deny" and deny["Principal"] == "*", policy.urn
    assert sorted(deny["Action"]) == ["s3:DeleteObject", "s3:DeleteObjectVersion"], policy.urn
    assert deny["Resource"] == f"{graph.result['bucket_arn']}/*", policy.urn
    assert "Condition" not in deny, policy.urn


def test_log_bucket_is_protected_unless_the_stack_opts_out(graph: Graph) -> None:
    # GIVEN the default args, and args that opt out as staging does (albDeletionProtection false)
    def unprotected() -> pulumi.Output[Any]:
        return LoadBalancer("bare-alb", args(environment="bare", protect_logs=False)).logs_bucket.id

    opted_out = run(unprotected)
    # THEN `pulumi destroy` refuses to delete the default's bucket and deletes the other's
    assert graph.one(S3_BUCKET).protect is True, graph.one(S3_BUCKET).urn
    assert opted_out.one(S3_BUCKET).protect is False, opted_out.one(S3_BUCKET).urn


def test_alb_waits_for_the_internet_access_it_is_given() -> None:
    # GIVEN the VPC's internet gateway and the route to it, as Network.internet_access lists them
    def build() -> pulumi.Output[Any]:
        gateway = aws.ec2.InternetGateway("igw", vpc_id="vpc-0123")
        route = aws.ec2.Route(
            "public-default-route",
            route_table_id="rtb-1",
            destination_cidr_block="0.0.0.0/0",
            gateway_id=gateway.id,
        )
        return LoadBalancer("ia-alb", args(environment="ia", internet_access=[gateway, route])).dns_name

    graph = run(build)
    alb = graph.one(LOAD_BALANCER)
    # THEN the ALB is created only after both (AWS: "InvalidSubnet: VPC ... has no internet gateway")
    for needed in (graph.named("igw"), graph.named("public-default-route")):
        assert needed.urn in alb.dependencies, f"{alb.urn} does not wait for {needed.urn}"


def test_bucket_policy_lets_only_elb_log_delivery_write_and_denies_plain_http(graph: Graph) -> None:
    policy = graph.one(S3_BUCKET_POLICY)
    document = json.loads(policy.inputs["policy"])
    statements = {s["Sid"]: s for s in document["Statement"]}
    bucket_arn = graph.result["bucket_arn"]
    logs = f"{bucket_arn}/alb/AWSLogs/{ACCOUNT_ID}/*"
    # THEN the region's ELB account and the log-delivery service may put objects under the prefix
    allows = [s for s in document["Statement"] if s["Effect"] == "Allow"]
    assert {json.dumps(s["Principal"], sort_keys=True) for s in allows} == {
        json.dumps({"AWS": f"arn:aws:iam::{ELB_LOG_ACCOUNTS['eu-west-1']}:root"}),
        json.dumps({"Service": "logdelivery.elasticloadbalancing.amazonaws.com"}),
    }, policy.urn
    for statement in allows:
        assert statement["Action"] == "s3:PutObject", f"{policy.urn}: {statement['Sid']}"
        assert statement["Resource"] == logs, f"{policy.urn}: {statement['Sid']}"
    # AND every request without TLS is denied
    deny = statements["DenyWithoutTls"]
    assert deny["Effect"] == "Deny", policy.urn
    assert deny["Principal"] == "*", policy.urn
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}, policy.urn
    assert sorted(deny["Resource"]) == sorted([bucket_arn, f"{bucket_arn}/*"]), policy.urn
    # AND the policy is applied after the public access block and ownership settings
    for role in ("logs-public-access", "logs-ownership"):
        assert graph.named(f"staging-alb-{role}").urn in policy.dependencies, policy.urn


def test_https_listener_uses_tls13_and_the_validated_certificate(graph: Graph) -> None:
    https = listener(graph, 443)
    validation = graph.one(ACM_VALIDATION)
    certificate = graph.one(ACM_CERTIFICATE)
    target_group = graph.one(TARGET_GROUP)
    # THEN HTTPS with a TLS 1.3 policy
    assert https.inputs["protocol"] == "HTTPS", https.urn
    assert https.inputs["sslPolicy"] == "ELBSecurityPolicy-TLS13-1-2-2021-06", https.urn
    # AND the certificate arrives through its validation, so the listener waits for issuance
    assert validation.urn in https.property_dependencies["certificateArn"], https.urn
    assert https.inputs["certificateArn"] == validation.inputs["certificateArn"], https.urn
    # AND the listener itself forwards nothing: the target group is reached only through a rule
    [action] = https.inputs["defaultActions"]
    assert action["type"] != "forward", https.urn
    assert target_group.urn not in https.property_dependencies["defaultActions"], https.urn
    # AND the certificate covers the origin name, validated by DNS in the zone
    assert certificate.inputs["domainName"] == ORIGIN, certificate.urn
    assert certificate.inputs["validationMethod"] == "DNS", certificate.urn
    record = graph.named("staging-alb-certificate-validation-record")
    assert record.inputs["zoneId"] == ZONE, record.urn
    assert record.inputs["type"] == "CNAME", record.urn
    assert record.inputs["name"].endswith(f".{ORIGIN}."), record.urn
    assert validation.inputs["validationRecordFqdns"] == [record.inputs["name"].rstrip(".")], validation.urn


def test_requests_without_the_origin_header_get_a_fixed_403(graph: Graph) -> None:
    # GIVEN the ALB / WHEN a request matches no rule (it did not come through our distribution)
    https = listener(graph, 443)
    # THEN the listener answers 403 itself, without forwarding anything
    assert https.inputs["defaultActions"] == [
        {
            "type": "fixed-response",
            "fixedResponse": {"statusCode": "403", "contentType": "text/plain", "messageBody": "Forbidden"},
        }
    ], https.urn


def test_only_the_origin_header_rule_forwards_and_it_accepts_current_and_previous(graph: Graph) -> None:
    # GIVEN the ALB with a current and a previous origin secret (a rotation under way)
    https = listener(graph, 443)
    target_group = graph.one(TARGET_GROUP)
    # WHEN the rules of the HTTPS listener are read
    rules = graph.of_type(LISTENER_RULE)
    # THEN there is exactly one, on the HTTPS listener, evaluated first
    assert len(rules) == 1, [r.urn for r in rules]
    [rule] = rules
    assert https.urn in rule.property_dependencies["listenerArn"], rule.urn
    assert rule.inputs["priority"] == 1, rule.urn
    # AND it forwards to the target group only when the origin header carries an accepted value
    assert rule.inputs["actions"] == [{"type": "forward", "targetGroupArn": graph.result["tg_arn"]}], rule.urn
    assert target_group.urn in rule.property_dependencies["actions"], rule.urn
    [condition] = rule.inputs["conditions"]
    assert set(condition) == {"httpHeader"}, f"{rule.urn}: {condition}"
    header = condition["httpHeader"]
    assert header["httpHeaderName"] == DEFAULT_ORIGIN_HEADER_NAME, rule.urn
    # AND both values are there, and neither reaches the state in clear
    assert header["values"] == ["[secret]", "[secret]"], f"{rule.urn}: {header}"


def test_accepted_values_are_the_ones_given_in_order() -> None:
    # GIVEN a current and a previous value / WHEN the ALB is built / THEN the rule carries exactly
    # those, current first
    def build() -> Any:
        lb = LoadBalancer("two-alb", args(origin_secret_values=[CURRENT, PREVIOUS]))
        return lb.origin_rule.conditions.apply(lambda conditions: [c.http_header.values for c in conditions])

    graph = run(build)
    assert graph.result == [[CURRENT, PREVIOUS]], graph.result


def test_origin_name_resolves_to_the_alb(graph: Graph) -> None:
    # GIVEN the ALB / WHEN built / THEN origin_name is an alias A record to the ALB in the zone, so
    # CloudFront reaches the ALB by the name its certificate carries
    record = graph.named("staging-alb-origin-record")
    alb = graph.one(LOAD_BALANCER)
    assert record.inputs["zoneId"] == ZONE, record.urn
    assert (record.inputs["name"], record.inputs["type"]) == (ORIGIN, "A"), record.urn
    [alias] = record.inputs["aliases"]
    assert alias["name"] == graph.result["dns"], record.urn
    assert alias["zoneId"] == graph.result["alb_zone"], record.urn
    assert alias["evaluateTargetHealth"] is True, record.urn
    assert alb.urn in record.property_dependencies["aliases"], record.urn


def test_http_listener_only_redirects_to_https(graph: Graph) -> None:
    http = listener(graph, 80)
    assert http.inputs["protocol"] == "HTTP", http.urn
    assert http.inputs["defaultActions"] == [
        {"type": "redirect", "redirect": {"protocol": "HTTPS", "port": "443", "statusCode": "HTTP_301"}}
    ], http.urn


def test_target_group_checks_health_and_drains_within_the_shutdown_grace(graph: Graph) -> None:
    target_group = graph.one(TARGET_GROUP)
    inputs = target_group.inputs
    # THEN the tasks register by IP over HTTP on the app port
    assert (inputs["targetType"], inputs["protocol"], inputs["port"]) == ("ip", "HTTP", 8000), (
        target_group.urn
    )
    assert inputs["vpcId"] == "vpc-0123", target_group.urn
    # AND the health check asks /health for a 200 on the traffic port
    check = inputs["healthCheck"]
    assert check["path"] == "/health", target_group.urn
    assert check["matcher"] == "200", target_group.urn
    assert check["port"] == "traffic-port", target_group.urn
    assert check["healthyThreshold"] >= 2, target_group.urn
    assert check["timeout"] < check["interval"], target_group.urn
    # AND draining takes about the API's shutdown grace, not the 300 s default
    assert inputs["deregistrationDelay"] == 30, target_group.urn
    # AND its name carries the environment and the port (a port change needs a new name)
    assert inputs["name"] == "notes-staging-api-8000", target_group.urn


def test_outputs_and_children(graph: Graph) -> None:
    component = graph.one("notes:infra:LoadBalancer")
    for resource in graph.custom():
        assert resource.parent == component.urn, f"{resource.urn} is not a child of {component.urn}"
        assert resource.name.startswith("staging-alb-"), resource.urn
    assert graph.result["arn_suffix"].startswith("app/"), graph.result
    assert graph.result["tg_suffix"].startswith("targetgroup/"), graph.result
    assert graph.result["dns"].endswith(".elb.amazonaws.com"), graph.result


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"ssl_policy": "ELBSecurityPolicy-2016-08"}, "is not a TLS 1.3 policy"),
        ({"ssl_policy": "ELBSecurityPolicy-TLS13-1-0-2021-06"}, "with TLS 1.2 or newer as its minimum"),
        ({"idle_timeout_seconds": 75}, "the ALB must give up on them first"),
        ({"deregistration_delay_seconds": 3601}, "deregistration_delay_seconds"),
        ({"access_log_retention_days": 0}, "access_log_retention_days"),
        ({"health_check_path": "health"}, "health_check_path"),
        ({"origin_secret_values": []}, r"origin_secret_values has 0 values"),
        ({"origin_secret_values": ["a", "b", "c"]}, r"origin_secret_values has 3 values"),
        ({"origin_secret_values": "one-string"}, r"a list of values, not one value"),
        ({"origin_header_name": "Host"}, r"origin_header_name: 'Host' is a header CloudFront reserves"),
        ({"origin_header_name": "X-Amz-Secret"}, r"origin_header_name: 'X-Amz-Secret'"),
        ({"origin_header_name": "X Origin"}, r"origin_header_name: 'X Origin' is not a header name"),
    ],
)
def test_impossible_args_fail_in_the_constructor(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        LoadBalancer("bad-alb", args(**overrides))

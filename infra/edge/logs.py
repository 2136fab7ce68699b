"""Where the edge's logs go, both in us-east-1 and encrypted with the edge's ``logs`` key: WAF's
into an ``aws-waf-logs-`` group with credentials redacted, CloudFront's access logs through a
standard logging v2 delivery."""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from infra.edge.args import EdgeArgs
from infra.edge.cloudfront import ACCESS_LOG_FIELDS

# Headers redacted from WAF logs (WAF wants them lowercase): bearer tokens and session cookies.
REDACTED_HEADERS = ("authorization", "cookie")


def waf_logs(
    name: str,
    args: EdgeArgs,
    web_acl: aws.wafv2.WebAcl,
    kms_key_arn: pulumi.Input[str],
    east: pulumi.ResourceOptions,
) -> aws.cloudwatch.LogGroup:
    """The web ACL's log group and the logging configuration that fills it."""
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-waf-logs",
        # WAF delivers only to log groups whose name starts with aws-waf-logs-.
        name=f"aws-waf-logs-notes-{args.environment}",
        retention_in_days=args.waf_log_retention_days,
        kms_key_id=kms_key_arn,
        opts=east,
    )
    aws.wafv2.WebAclLoggingConfiguration(
        f"{name}-waf-logging",
        resource_arn=web_acl.arn,
        log_destination_configs=[log_group.arn],
        redacted_fields=[
            aws.wafv2.WebAclLoggingConfigurationRedactedFieldArgs(
                single_header=aws.wafv2.WebAclLoggingConfigurationRedactedFieldSingleHeaderArgs(name=header)
            )
            for header in REDACTED_HEADERS
        ],
        opts=east,
    )
    return log_group


def access_logs(
    name: str,
    args: EdgeArgs,
    distribution: aws.cloudfront.Distribution,
    kms_key_arn: pulumi.Input[str],
    east: pulumi.ResourceOptions,
) -> aws.cloudwatch.LogGroup:
    """The distribution's access log group and the delivery that fills it."""
    # Standard logging v2 (CloudWatch vended logs) into a KMS-encrypted log group with
    # retention: no ACL-enabled bucket, which the legacy S3 logging would require. The
    # source, destination and log group all live in us-east-1, where CloudFront delivers.
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-access-logs",
        # Under /aws/vendedlogs/ the delivery's resource policy covers the prefix with one
        # statement instead of growing by one per log group (policies stop at 5,120 bytes).
        name=f"/aws/vendedlogs/cloudfront/notes-{args.environment}",
        retention_in_days=args.access_log_retention_days,
        kms_key_id=kms_key_arn,
        opts=east,
    )
    # Source and destination names are unique in the account and region, and a new
    # distribution (resource_arn) or log group replaces them under the same name: delete the
    # old one first (terraform-provider-aws internal/service/logs/delivery_source.go and
    # delivery_destination.go mark those inputs RequiresReplace). They hold no data. The
    # delivery that names them is deleted before them and re-created after: the engine replaces
    # the dependents of a delete-before-replace whose replacing inputs read it
    # (calculateDependentReplacements in pulumi/pulumi pkg/resource/deploy/step_generator.go).
    # Access logs pause for the length of the update.
    replace_in_place = pulumi.ResourceOptions.merge(east, pulumi.ResourceOptions(delete_before_replace=True))
    source = aws.cloudwatch.LogDeliverySource(
        f"{name}-access-log-source",
        name=f"notes-{args.environment}-cloudfront",
        log_type="ACCESS_LOGS",
        resource_arn=distribution.arn,
        opts=replace_in_place,
    )
    destination = aws.cloudwatch.LogDeliveryDestination(
        f"{name}-access-log-destination",
        name=f"notes-{args.environment}-cloudfront-logs",
        output_format="json",
        delivery_destination_configuration=aws.cloudwatch.LogDeliveryDestinationDeliveryDestinationConfigurationArgs(
            destination_resource_arn=log_group.arn
        ),
        opts=replace_in_place,
    )
    aws.cloudwatch.LogDelivery(
        f"{name}-access-log-delivery",
        delivery_source_name=source.name,
        delivery_destination_arn=destination.arn,
        record_fields=list(ACCESS_LOG_FIELDS),
        opts=east,
    )
    return log_group

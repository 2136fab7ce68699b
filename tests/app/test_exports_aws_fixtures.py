"""The moto fixtures the export tests (API and worker) share: plain boto3 clients reach the
per-test queue and bucket through the environment alone, and the queue redrives to its DLQ."""

from __future__ import annotations

import json

import boto3

from devtools.localservices import ExportResources, MotoServer


def test_plain_boto3_clients_reach_the_test_queue_and_bucket_through_the_environment(
    aws_env: dict[str, str], export_resources: ExportResources, moto_server: MotoServer
) -> None:
    # GIVEN the environment the fixtures set, and clients created as the service creates them
    sqs, s3 = boto3.client("sqs"), boto3.client("s3")
    # THEN they talk to the moto server, not to AWS
    assert sqs.meta.endpoint_url == s3.meta.endpoint_url == moto_server.url
    assert aws_env["AWS_ENDPOINT_URL_SQS"] == moto_server.url
    # AND the queue redrives to its DLQ after the configured receives
    attributes = sqs.get_queue_attributes(QueueUrl=export_resources.queue_url, AttributeNames=["All"])
    redrive = json.loads(attributes["Attributes"]["RedrivePolicy"])
    assert redrive == {"deadLetterTargetArn": export_resources.dlq_arn, "maxReceiveCount": 5}
    # AND a message sent is received, and an object put is read back
    sqs.send_message(QueueUrl=export_resources.queue_url, MessageBody="ping")
    received = sqs.receive_message(QueueUrl=export_resources.queue_url, WaitTimeSeconds=1)
    assert [m["Body"] for m in received["Messages"]] == ["ping"]
    s3.put_object(Bucket=export_resources.bucket, Key="exports/a/b.json.gz", Body=b"x")
    assert s3.get_object(Bucket=export_resources.bucket, Key="exports/a/b.json.gz")["Body"].read() == b"x"


def test_each_test_starts_with_an_empty_queue_and_bucket_of_its_own(
    export_resources: ExportResources, moto_server: MotoServer
) -> None:
    # GIVEN the previous test left a message and an object in its own queue and bucket
    sqs, s3 = moto_server.client("sqs"), moto_server.client("s3")
    # THEN this test's are empty
    assert "Messages" not in sqs.receive_message(QueueUrl=export_resources.queue_url, WaitTimeSeconds=0)
    assert s3.list_objects_v2(Bucket=export_resources.bucket)["KeyCount"] == 0

"""The alarms of note exports: the queue the API fills, its dead-letter queue, and the worker
service that empties it.

- oldest message: ``ApproximateAgeOfOldestMessage`` of the queue above a threshold that lies
  above the worker's job timeout: requests wait and nobody takes them (no worker runs, the
  workers are stuck, or too few for the backlog);
- dead-letter queue not empty: ``ApproximateNumberOfMessagesVisible`` of the DLQ above 0: an
  export failed as often as the redrive policy allows, and its record says failed. The age alarm
  cannot see these: SQS leaves a message received again and again out of the queue's age (the
  guide's "poison-pill" note), so the DLQ is where such failures show;
- worker tasks below desired: Container Insights' ``DesiredTaskCount`` minus ``RunningTaskCount``
  of the worker's ECS service, sustained, as ``ServiceAlarms`` does for the API. Only with an ECS
  service: on EKS the worker is the chart's Deployment and the queue alarms stand alone.

Metric names and their only dimension, ``QueueName``: "Available CloudWatch metrics for Amazon
SQS" (SQS Developer Guide), in ``infra.observability.metrics_catalog``. Every alarm notifies the
topic on ALARM and on OK and is named ``notes-<env>-<what>``, as those of ``alarms``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.observability.alarm_factory import Alarm, AlarmFactory, Evaluation, Metric, check_alarm_args
from infra.observability.metrics_catalog import CONTAINER_INSIGHTS, SQS
from infra.observability.thresholds import AlarmThresholds


@dataclass(frozen=True)
class WorkerAlarmsArgs:
    """The exports queue, its dead-letter queue and the worker service, and where they alarm."""

    environment: str
    """Environment name, part of every alarm name. From config ``environment``. Required."""
    topic_arn: pulumi.Input[str]
    """The alarm topic (``AlarmTopic.arn``). Required."""
    queue_name: pulumi.Input[str]
    """Name of the exports queue (``notes-<env>-exports``, the queue's ``name`` output): the
    ``QueueName`` dimension value. Required."""
    dlq_name: pulumi.Input[str]
    """Name of its dead-letter queue (``notes-<env>-exports-dlq``). Required."""
    job_timeout_seconds: int
    """Seconds after which the worker gives a job up (its ``NOTES_EXPORT_JOB_TIMEOUT_SECONDS``,
    600 by default). The oldest-message threshold must lie above it. Required."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """Thresholds and evaluation windows (``queue_oldest_message_age_seconds``, the task
    shortfall's, the period), from the ``alarms*`` config keys. Default ``AlarmThresholds()``."""
    cluster_name: pulumi.Input[str] | None = None
    """ECS cluster the worker runs in (the API's, ``ApiService.cluster_name``): the
    ``ClusterName`` dimension value. With ``service_name``, or neither. Default None: no ECS
    service (the EKS path), no running-tasks alarm."""
    service_name: pulumi.Input[str] | None = None
    """The worker's ECS service (``notes-<env>-worker``): the ``ServiceName`` dimension value.
    With ``cluster_name``, or neither. Default None: no running-tasks alarm."""


def check_worker_alarm_args(args: WorkerAlarmsArgs) -> None:
    """What ``WorkerAlarms`` refuses before it registers anything."""
    check_alarm_args(args.environment, args.topic_arn, args.thresholds)
    if (args.cluster_name is None) != (args.service_name is None):
        raise ValueError(
            "cluster_name and service_name name the worker's ECS service together: give both, or "
            "neither for a worker that is not an ECS service"
        )
    if args.job_timeout_seconds <= 0:
        raise ValueError(f"job_timeout_seconds={args.job_timeout_seconds} must be above 0")
    age = args.thresholds.queue_oldest_message_age_seconds
    if age <= args.job_timeout_seconds:
        # A message stays in the queue until its job ends, so a job of normal length ages
        # it up to the timeout: the alarm would fire on healthy work.
        raise ValueError(
            f"thresholds.queue_oldest_message_age_seconds={age} must be above "
            f"job_timeout_seconds={args.job_timeout_seconds}: a message stays in the queue while "
            "its export runs"
        )


class WorkerAlarms(pulumi.ComponentResource):
    """Oldest message in the exports queue, messages in its dead-letter queue, worker tasks
    below desired (an ECS worker only); ``alarm_arns`` go to the dashboard's status widget."""

    oldest_message: aws.cloudwatch.MetricAlarm
    dead_letters: aws.cloudwatch.MetricAlarm
    running_tasks: aws.cloudwatch.MetricAlarm | None
    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(self, name: str, args: WorkerAlarmsArgs, opts: pulumi.ResourceOptions | None = None) -> None:
        check_worker_alarm_args(args)
        super().__init__("notes:infra:WorkerAlarms", name, None, opts)
        t = args.thresholds
        factory = AlarmFactory(self, name, args.environment, args.topic_arn)
        queue = {"QueueName": args.queue_name}
        dlq = {"QueueName": args.dlq_name}
        fast = Evaluation(t.evaluation_periods, t.datapoints_to_alarm, t.period_seconds)
        # One message in the dead-letter queue is one failed export: nothing to wait for.
        at_once = Evaluation(1, 1, t.period_seconds)
        queues = f"notes-{args.environment}-exports"
        where = (
            f"Check the notes-{args.environment}-worker-running-tasks alarm and the worker "
            "service's events in the ECS console, then the worker's logs for jobs that hang; raise "
            "the worker's maximum task count if the backlog only grows."
            if args.service_name is not None
            else "Check the worker Deployment's pods and their events in the cluster, then the "
            "worker's logs for jobs that hang; raise its maximum pod count (workerMaxCount) if the "
            "backlog only grows."
        )

        self.oldest_message = factory.create(
            Alarm(
                role="exports-oldest-message",
                what="oldest export request, seconds",
                description=(
                    f"An export request has waited in {queues} for more than "
                    f"{t.queue_oldest_message_age_seconds} s ({fast.window}), longer than one "
                    f"whole job ({args.job_timeout_seconds} s): no worker takes it. {where}"
                ),
                comparison="GreaterThanThreshold",
                threshold=t.queue_oldest_message_age_seconds,
                # SQS reports the age only while the queue holds a message or was called in the
                # last six hours ("Monitoring Amazon SQS queues using CloudWatch", SQS Developer
                # Guide: an inactive queue "stops delivering metrics"). No data is an empty, idle
                # queue, and a queue holding a message is active, so it reports: never a breach.
                treat_missing_data="notBreaching",
                evaluation=fast,
                metric=Metric(SQS, "ApproximateAgeOfOldestMessage", queue, "Maximum"),
            )
        )
        self.dead_letters = factory.create(
            Alarm(
                role="exports-dlq-not-empty",
                what="messages in the dead-letter queue",
                description=(
                    f"{queues}-dlq holds messages: exports that failed as many times as the queue's "
                    "redrive policy allows; their records say failed, with the reason. Read the "
                    "worker's logs for the export ids, fix the cause, then move the messages back "
                    "(SQS console, dead-letter queue redrive) or purge them. The alarm stays on "
                    "until the queue is empty."
                ),
                comparison="GreaterThanThreshold",
                threshold=0,
                # An idle, empty dead-letter queue stops reporting after six hours (as above);
                # one holding messages stays active and keeps reporting them. Missing is empty.
                treat_missing_data="notBreaching",
                evaluation=at_once,
                # "Creating alarms for dead-letter queues using Amazon CloudWatch" (SQS
                # Developer Guide) alarms on the visible messages of the dead-letter queue.
                metric=Metric(SQS, "ApproximateNumberOfMessagesVisible", dlq, "Maximum"),
            )
        )
        self.running_tasks = None
        if args.cluster_name is not None and args.service_name is not None:
            self.running_tasks = self._running_tasks(factory, t, args.cluster_name, args.service_name)
        self.alarms = [self.oldest_message, self.dead_letters]
        self.alarms += [self.running_tasks] if self.running_tasks is not None else []
        self.alarm_arns = [a.arn for a in self.alarms]
        self.register_outputs({"alarmArns": self.alarm_arns})

    @staticmethod
    def _running_tasks(
        factory: AlarmFactory,
        t: AlarmThresholds,
        cluster_name: pulumi.Input[str],
        service_name: pulumi.Input[str],
    ) -> aws.cloudwatch.MetricAlarm:
        service = {"ClusterName": cluster_name, "ServiceName": service_name}
        shortfall = Evaluation(
            t.task_shortfall_evaluation_periods, t.task_shortfall_evaluation_periods, t.period_seconds
        )
        return factory.create(
            Alarm(
                role="worker-running-tasks",
                what="worker tasks below desired",
                description=(
                    f"The export worker ran {t.running_task_shortfall} or more tasks fewer than "
                    f"desired for {shortfall.periods} minutes: exports wait. Check the worker "
                    "service's events in the ECS console (capacity, image pull, its MongoDB secret, "
                    "tasks that stop at start-up) and its stopped tasks' reasons."
                ),
                comparison="GreaterThanOrEqualToThreshold",
                threshold=t.running_task_shortfall,
                # As the API's: Container Insights reports a service every minute while it
                # exists, so silence means nobody can see the worker, which is not health. Chosen
                # for a worker that keeps at least one task (WorkerServiceArgs.min_count >= 1:
                # target tracking on backlog per task cannot scale up from zero); one allowed to
                # scale to zero would make silence at zero tasks normal: revisit this then.
                treat_missing_data="breaching",
                evaluation=shortfall,
                inputs={
                    "desired": Metric(CONTAINER_INSIGHTS, "DesiredTaskCount", service, "Average"),
                    "running": Metric(CONTAINER_INSIGHTS, "RunningTaskCount", service, "Average"),
                },
                # No running count while tasks are desired is a shortfall of all of them.
                expression="desired - FILL(running, 0)",
            )
        )

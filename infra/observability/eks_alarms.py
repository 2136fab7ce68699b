"""The API's alarms on the EKS path (``compute: eks``): what ``ServiceAlarms`` watches for ECS,
from the Container Insights metrics EKS publishes instead.

- unhealthy targets: the same ALB metric as ECS (the pods sit in the stack's target group);
- running pods below the minimum: ``service_number_of_running_pods`` of the API's Kubernetes
  Service. Container Insights on EKS publishes no desired count (the ECS alarm's
  ``DesiredTaskCount``), so the floor is the HorizontalPodAutoscaler's minimum, a fixed number;
- container restarts: ``pod_number_of_container_restarts``, "the total number of container
  restarts in a pod" (a count since the pod started, so its Maximum): a crash loop the ALB sees
  only as fewer targets, which lasts until the pod is replaced;
- pod CPU and memory: ``pod_cpu_utilization`` / ``pod_memory_utilization`` of the Service.

The metrics and their dimensions are those of "Amazon EKS and Kubernetes Container Insights
metrics" (CloudWatch User Guide, Container-Insights-metrics-EKS.html), in
``infra.observability.metrics_catalog``. They exist only once the cluster runs the CloudWatch
agent (the ``amazon-cloudwatch-observability`` add-on).

The deployment alarms (5xx rate, p99) are the ECS path's ``DeploymentAlarms``, unchanged: they
watch the ALB and its target group only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws

from infra.observability.alarm_factory import Alarm, AlarmFactory, Evaluation, Metric, check_alarm_args
from infra.observability.metrics_catalog import ALB, EKS_CONTAINER_INSIGHTS
from infra.observability.thresholds import AlarmThresholds


@dataclass(frozen=True)
class EksServiceAlarmsArgs:
    """Health and saturation of the API's pods on EKS."""

    environment: str
    """Environment name, part of every alarm name. From config ``environment``. Required."""
    topic_arn: pulumi.Input[str]
    """The alarm topic (``AlarmTopic.arn``). Required."""
    alb_arn_suffix: pulumi.Input[str]
    """ARN suffix of the ALB (``LoadBalancer.arn_suffix``). Required."""
    target_group_arn_suffix: pulumi.Input[str]
    """ARN suffix of the API's target group (``LoadBalancer.target_group_arn_suffix``). Required."""
    cluster_name: pulumi.Input[str]
    """EKS cluster (``EksCluster.cluster_name``): the ``ClusterName`` dimension value. Required."""
    namespace: str
    """Kubernetes namespace of the API. From config ``eksNamespace``. Required."""
    service: str
    """The API's Kubernetes Service name (the chart's): the ``Service`` dimension value. Required."""
    pod_name: str
    """The API Deployment's name: Container Insights' ``PodName`` for its pods, the restarts
    metric's only per-workload dimension. Required."""
    min_running_pods: int
    """Running pods below which the API alarms: the autoscaler's minimum. From config
    ``serviceMinCount``. Required, 1 or more."""
    restarts: int = 3
    """Container restarts of one API pod since it started that alarm. Default 3."""
    thresholds: AlarmThresholds = field(default_factory=AlarmThresholds)
    """Thresholds and evaluation windows, from the ``alarms*`` config keys. Default
    ``AlarmThresholds()``."""


class EksServiceAlarms(pulumi.ComponentResource):
    """Unhealthy targets, running pods below the minimum, restarts, pod CPU and memory."""

    alarms: list[aws.cloudwatch.MetricAlarm]
    alarm_arns: list[pulumi.Output[str]]

    def __init__(
        self, name: str, args: EksServiceAlarmsArgs, opts: pulumi.ResourceOptions | None = None
    ) -> None:
        check_alarm_args(args.environment, args.topic_arn, args.thresholds)
        if args.min_running_pods < 1:
            raise ValueError(f"min_running_pods={args.min_running_pods}: the API runs at least one pod")
        if args.restarts < 1:
            raise ValueError(f"restarts={args.restarts}: alarm on one restart or more")
        super().__init__("notes:infra:EksServiceAlarms", name, None, opts)
        t = args.thresholds
        factory = AlarmFactory(self, name, args.environment, args.topic_arn)
        target = {"LoadBalancer": args.alb_arn_suffix, "TargetGroup": args.target_group_arn_suffix}
        service = {"Service": args.service, "Namespace": args.namespace, "ClusterName": args.cluster_name}
        pods = {"PodName": args.pod_name, "Namespace": args.namespace, "ClusterName": args.cluster_name}
        fast = Evaluation(t.evaluation_periods, t.datapoints_to_alarm, t.period_seconds)
        sustained = Evaluation(
            t.saturation_evaluation_periods, t.saturation_datapoints_to_alarm, t.period_seconds
        )
        shortfall = Evaluation(
            t.task_shortfall_evaluation_periods, t.task_shortfall_evaluation_periods, t.period_seconds
        )
        where = f"kubectl -n {args.namespace} get pods,events"

        self.alarms = [
            factory.create(
                Alarm(
                    role="api-unhealthy-hosts",
                    what="unhealthy targets",
                    description=(
                        f"{t.unhealthy_hosts} or more API pods failed the ALB's health check in "
                        f"{fast.window}. Look at the pods' readiness and logs ({where})."
                    ),
                    comparison="GreaterThanOrEqualToThreshold",
                    threshold=t.unhealthy_hosts,
                    # No registered targets, no count: missing pods are the running-pods alarm's.
                    treat_missing_data="notBreaching",
                    evaluation=fast,
                    metric=Metric(ALB, "UnHealthyHostCount", target, "Maximum"),
                )
            ),
            factory.create(
                Alarm(
                    role="api-running-pods",
                    what="running pods below minimum",
                    description=(
                        f"The API ran fewer than {args.min_running_pods} pods for {shortfall.periods} "
                        f"minutes. Look for pending pods and their events ({where}): node capacity, "
                        "image pull, secrets, failing probes."
                    ),
                    comparison="LessThanThreshold",
                    threshold=args.min_running_pods,
                    # The agent reports every minute while pods run: silence means no pods, or
                    # nobody can see them, neither of which is health.
                    treat_missing_data="breaching",
                    evaluation=shortfall,
                    metric=Metric(
                        EKS_CONTAINER_INSIGHTS, "service_number_of_running_pods", service, "Minimum"
                    ),
                )
            ),
            factory.create(
                Alarm(
                    role="api-restarts",
                    what="container restarts",
                    description=(
                        f"An API pod's containers restarted {args.restarts} or more times since it "
                        f"started ({fast.window}): a crash loop or OOM kills. Look at the previous "
                        f"container's logs (kubectl -n {args.namespace} logs --previous)."
                    ),
                    comparison="GreaterThanOrEqualToThreshold",
                    threshold=args.restarts,
                    # Pods without restarts may report nothing; absence is not a crash.
                    treat_missing_data="notBreaching",
                    evaluation=fast,
                    metric=Metric(
                        EKS_CONTAINER_INSIGHTS, "pod_number_of_container_restarts", pods, "Maximum"
                    ),
                )
            ),
            factory.create(
                Alarm(
                    role="api-cpu",
                    what="pod CPU %",
                    description=(
                        f"The API pods' average CPU stayed above {t.service_cpu_percent:g}% "
                        f"({sustained.window}) although the autoscaler aims lower: the API is at its "
                        "maximum replicas or the nodes are full. Raise serviceMaxCount or the nodes."
                    ),
                    comparison="GreaterThanThreshold",
                    threshold=t.service_cpu_percent,
                    # No pods report no CPU; that is the running-pods alarm's to report.
                    treat_missing_data="notBreaching",
                    evaluation=sustained,
                    metric=Metric(EKS_CONTAINER_INSIGHTS, "pod_cpu_utilization", service, "Average"),
                )
            ),
            factory.create(
                Alarm(
                    role="api-memory",
                    what="pod memory %",
                    description=(
                        f"The API pods' average memory stayed above {t.service_memory_percent:g}% "
                        f"({sustained.window}). Pods at their limit are OOM-killed: raise serviceMemory "
                        "or look for a leak."
                    ),
                    comparison="GreaterThanThreshold",
                    threshold=t.service_memory_percent,
                    treat_missing_data="notBreaching",
                    evaluation=sustained,
                    metric=Metric(EKS_CONTAINER_INSIGHTS, "pod_memory_utilization", service, "Average"),
                )
            ),
        ]
        self.alarm_arns = [a.arn for a in self.alarms]
        self.register_outputs({"alarmArns": self.alarm_arns})

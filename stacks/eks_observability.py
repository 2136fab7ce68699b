"""The EKS path's observability tier: the pods' alarms and dashboard row in place of the ECS
service's, and the exports queues' alarms.

The data alarms are those of the ECS path (``observability_tier`` with no compute builds them);
the deployment alarms come with ``eks_compute``. The export worker is the chart's second
Deployment, not an ECS service: its queues alarm as on ECS (``WorkerAlarms`` without an ECS
service), and there is no running-tasks alarm for it.
"""

from __future__ import annotations

from infra.observability.alarms import DataAlarms
from infra.observability.eks_alarms import EksServiceAlarms, EksServiceAlarmsArgs
from stacks.alarms import stack_worker_alarms
from stacks.compute import API_RELEASE, EksComputeTier
from stacks.tiers import (
    DataTier,
    EdgeTier,
    ExportsTier,
    Foundation,
    ObservabilityTier,
    stack_dashboard,
)


def eks_observability(
    base: Foundation,
    data: DataTier,
    edge: EdgeTier,
    compute: EksComputeTier,
    data_alarms: DataAlarms,
    exports: ExportsTier,
) -> ObservabilityTier:
    """The EKS path's service alarms (Container Insights, in place of ``ServiceAlarms``), the
    exports queues' alarms, and the dashboard with the pods' row in place of the ECS service's;
    the data alarms as on ECS."""
    env, opts, alb, config = base.env, base.opts, edge.alb, base.config
    service_alarms = EksServiceAlarms(
        f"{env}-service-alarms",
        EksServiceAlarmsArgs(
            environment=env,
            topic_arn=base.topic.arn,
            alb_arn_suffix=alb.arn_suffix,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            cluster_name=compute.cluster.cluster_name,
            namespace=compute.namespace,
            service=API_RELEASE,
            pod_name=API_RELEASE,
            min_running_pods=config.service.min_count,
            thresholds=base.thresholds,
        ),
        opts,
    )
    # The oldest request and the dead-letter queue; no ECS service to count tasks of.
    worker_alarms = stack_worker_alarms(base, None, exports)
    dashboard = stack_dashboard(
        base,
        data,
        edge,
        cluster_name=compute.cluster.cluster_name,
        service_name=API_RELEASE,
        kubernetes_namespace=compute.namespace,
        alarm_arns=[
            *compute.deployment_alarms.alarm_arns,
            *service_alarms.alarm_arns,
            *data_alarms.alarm_arns,
            *worker_alarms.alarm_arns,
        ],
    )
    return ObservabilityTier(
        data_alarms=data_alarms, service_alarms=None, dashboard=dashboard, worker_alarms=worker_alarms
    )

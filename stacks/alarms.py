"""The alarm sets every compute path shares, named the same whichever tier makes them: the data
tier's (database and cache), the load balancer's that a deployment is judged on, and the export
queues' (with an ECS worker's running tasks when there is one). ``stacks.tiers``,
``stacks.compute`` and ``stacks.eks_observability`` call them."""

from __future__ import annotations

from typing import TYPE_CHECKING

from infra.observability.alarms import (
    DataAlarms,
    DataAlarmsArgs,
    DeploymentAlarms,
    DeploymentAlarmsArgs,
    cache_member_ids,
)
from infra.observability.worker_alarms import WorkerAlarms, WorkerAlarmsArgs

if TYPE_CHECKING:  # stacks.tiers imports this module to call it
    from infra.worker import WorkerService
    from stacks.tiers import DataTier, EdgeTier, ExportsTier, Foundation


def stack_data_alarms(base: Foundation, data: DataTier) -> DataAlarms:
    """The database's and the cache's alarms: the same for every compute path, and from day one."""
    cache_ids = cache_member_ids(
        data.cache.replication_group.replication_group_id, base.config.cache.node_count
    )
    return DataAlarms(
        f"{base.env}-data-alarms",
        DataAlarmsArgs(
            environment=base.env,
            topic_arn=base.topic.arn,
            docdb_instance_ids=[instance.identifier for instance in data.database.instances],
            cache_cluster_ids=cache_ids,
            thresholds=base.thresholds,
        ),
        base.opts,
    )


def stack_worker_alarms(base: Foundation, worker: WorkerService | None, exports: ExportsTier) -> WorkerAlarms:
    """The exports queue's oldest message, its dead-letter queue, an ECS worker's running tasks."""
    return WorkerAlarms(
        f"{base.env}-worker-alarms",
        WorkerAlarmsArgs(
            environment=base.env,
            topic_arn=base.topic.arn,
            queue_name=exports.queue.queue_name,
            dlq_name=exports.queue.dlq_name,
            cluster_name=worker.cluster_name if worker is not None else None,
            service_name=worker.service_name if worker is not None else None,
            job_timeout_seconds=base.config.exports.job_timeout_seconds,
            thresholds=base.thresholds,
        ),
        base.opts,
    )


def stack_deployment_alarms(base: Foundation, edge: EdgeTier) -> DeploymentAlarms:
    """The alarms a deployment is judged on (5xx share, p99 on the ALB and its target group):
    the same for every compute path. ECS rolls a deployment back on them."""
    return DeploymentAlarms(
        f"{base.env}-deployment-alarms",
        DeploymentAlarmsArgs(
            environment=base.env,
            topic_arn=base.topic.arn,
            alb_arn_suffix=edge.alb.arn_suffix,
            target_group_arn_suffix=edge.alb.target_group_arn_suffix,
            thresholds=base.thresholds,
        ),
        base.opts,
    )

"""Who is told when the notes stack misbehaves, and where to look.

- ``topic``: ``AlarmTopic``, the KMS-encrypted SNS topic every alarm notifies, and its
  subscriptions.
- ``alarms``: ``DeploymentAlarms``, the API's 5xx rate and p99 latency (they need only the ALB
  and its target group, so they exist before the ECS service, which rolls a deployment back on
  them); ``ServiceAlarms``, unhealthy targets, tasks below the desired count, service CPU and
  memory; ``DataAlarms``, DocumentDB and Redis, per instance / node.
- ``thresholds``: ``AlarmThresholds``, where each alarm fires, and their validation.
- ``alarm_factory``: what one alarm says and how it becomes a MetricAlarm.
- ``worker_alarms``: ``WorkerAlarms``, note exports: the queue's oldest message, messages in its
  dead-letter queue, worker tasks below desired.
- ``dashboard``: one CloudWatch dashboard per environment, its body built as plain data;
  ``eks_widgets`` and ``worker_widgets`` add the EKS service row and the export rows.
- ``metrics_catalog``: the metrics AWS publishes, which every alarm and widget is checked against.

Composition order: topic -> DeploymentAlarms -> ApiService(deployment_alarm_names=...) ->
ServiceAlarms, DataAlarms -> Dashboard.

Every alarm notifies the topic on ALARM and on OK, is named ``notes-<env>-<what>``, takes its
threshold from ``AlarmThresholds`` and watches a metric from ``metrics_catalog``.

This file imports nothing, and must not: the stack's config schema reads
``metrics_catalog`` (pure Python) without loading Pulumi, and importing any module of the
package runs this file first.
"""

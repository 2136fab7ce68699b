"""The dashboard's service row on the EKS path (``compute: eks``): the metrics the EKS alarms
watch (``infra.observability.eks_alarms``), per Kubernetes Service, from the ``ContainerInsights``
namespace ("Amazon EKS and Kubernetes Container Insights metrics", CloudWatch User Guide), in
place of the ECS service's CPU, memory and task counts. Plain data: ``dashboard._service`` turns
each chart into a widget (and checks each metric against the catalog)."""

from __future__ import annotations

from typing import NamedTuple


class Line(NamedTuple):
    name: str
    dimensions: dict[str, str]
    stat: str
    label: str


class Chart(NamedTuple):
    title: str
    lines: list[Line]
    y_label: str | None


def pod_charts(cluster_name: str, service_name: str, namespace: str) -> list[Chart]:
    """The pods' CPU and memory (average and worst pod), and how many run."""
    service = {"Service": service_name, "Namespace": namespace, "ClusterName": cluster_name}
    cpu, memory = "pod_cpu_utilization", "pod_memory_utilization"
    return [
        Chart(
            "Pods' saturation: CPU and memory, %",
            [
                Line(cpu, service, "Average", "CPU average"),
                Line(cpu, service, "Maximum", "CPU busiest pod"),
                Line(memory, service, "Average", "memory average"),
                Line(memory, service, "Maximum", "memory fullest pod"),
            ],
            "%",
        ),
        Chart("Pods running", [Line("service_number_of_running_pods", service, "Average", "running")], None),
    ]

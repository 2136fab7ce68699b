"""The compute tier: the image, and the API running it: on ECS Fargate (``ecs_compute``) or on
EKS through the ``charts/notes-api`` Helm chart (``eks_compute``), chosen by ``compute``.

A stack that builds (``imageBuild: true``) always has an image. A stack that deploys only a
promoted digest (prod) has none on its first deploy: its repository is created empty, and the
service with its alarms waits until an image has been promoted into it and ``imageDigest``
names it (README, "First deploy"). Starting tasks on a digest the repository does not hold
would fail with CannotPullContainerError while ``pulumi up`` reported success.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from infra.documentdb import DocumentDb
from infra.ecs import ApiService, ApiServiceArgs, InitContainer
from infra.image import ServiceImage, ServiceImageArgs
from infra.network import subnet_cidrs
from infra.observability.alarms import DeploymentAlarms
from infra.security_groups import DOCDB_PORT, REDIS_PORT
from stacks.alarms import stack_deployment_alarms
from stacks.config import PROJECT, ROOT, StackConfig, StackConfigError
from stacks.error_tracking import sentry_environment
from stacks.exports import api_export_environment, sender_policy, with_sentry, worker_service
from stacks.settings import image_tag
from stacks.tiers import (
    ComputeTier,
    DataTier,
    EdgeTier,
    ExportsTier,
    Foundation,
)

if TYPE_CHECKING:
    import pulumi_kubernetes as k8s

    from infra.eks.cluster import EksCluster
    from infra.eks.controller import LoadBalancerController
    from infra.eks.pod_identity import ApiPodIdentity, DbUsersPodIdentity, WorkerPodIdentity

# The chart's release, and so (its fullname helper: a release name that contains the chart's)
# the Deployment, Service and ServiceAccount names the alarms and the Pod Identity association use.
API_RELEASE = "notes-api"
API_SERVICE_ACCOUNT = "notes-api"
# Relative to the project directory, where `pulumi up` runs, like the image's build context.
API_CHART_PATH = "charts/notes-api"
# The PodDisruptionBudget's minAvailable in charts/notes-api/values.yaml: the autoscaler's minimum
# must exceed it, or every node drain stalls (the chart refuses to render).
CHART_PDB_MIN_AVAILABLE = 1


@dataclass(frozen=True)
class EksComputeTier:
    """The API on EKS: the cluster, the API's, the worker's and the dbusers Job's pod roles, the load
    balancer controller, the chart's release, and the ALB alarms a rollout is judged by
    (``DeploymentAlarms``, as ECS)."""

    deployment_alarms: DeploymentAlarms
    cluster: EksCluster
    pod_identity: ApiPodIdentity
    controller: LoadBalancerController
    worker_pod_identity: WorkerPodIdentity
    dbusers_pod_identity: DbUsersPodIdentity
    release: k8s.helm.v3.Release
    namespace: str


def service_image(base: Foundation) -> ServiceImage:
    """The repository, and the image the service runs: built here, or promoted into it."""
    config, env, keys, opts = base.config, base.env, base.keys, base.opts
    return ServiceImage(
        f"{env}-image",
        ServiceImageArgs(
            environment=env,
            repository_name=config.image.repository_name,
            kms_key_arn=keys.arn("ecr"),
            keep_images=config.image.keep_images,
            # Relative to the project directory, where `pulumi up` runs: plans stay machine-independent.
            context_path="app",
            build=config.image.build,
            digest=config.image.digest,
            # Only a build needs it; a promoted digest is deployed as it is.
            tag=image_tag(ROOT / "app") if config.image.build else "unknown-000000000000",
        ),
        opts,
    )


def ecs_compute(
    base: Foundation, data: DataTier, edge: EdgeTier, image: ServiceImage, exports: ExportsTier
) -> ComputeTier:
    """The API as an ECS Fargate service behind the edge tier's ALB, running ``image``, and the
    export worker beside it in the same cluster."""
    if image.image_ref is None:
        raise ValueError("ecs_compute needs an image: build one, or promote one and set imageDigest")
    config, env, keys, opts, alb = base.config, base.env, base.keys, base.opts, edge.alb

    # Judged on the ALB and its target group; ECS also rolls a deployment back on them, so they
    # exist before the service.
    deployment_alarms = stack_deployment_alarms(base, edge)

    service = ApiService(
        f"{env}-api",
        ApiServiceArgs(
            environment=env,
            region=config.region,
            subnet_ids=base.network.private_subnet_ids,
            security_group_id=base.groups.tasks_id,
            target_group_arn=alb.target_group.arn,
            target_group_arn_suffix=alb.target_group_arn_suffix,
            alb_arn_suffix=alb.arn_suffix,
            # The target group joins the load balancer through the origin rule, not the listener.
            listener=alb.origin_rule,
            deployment_alarm_names=deployment_alarms.alarm_names,
            image_ref=image.image_ref,
            cpu=config.service.cpu,
            memory=config.service.memory,
            desired_count=config.service.desired_count,
            min_count=config.service.min_count,
            max_count=config.service.max_count,
            cpu_target_percent=config.service.cpu_target_percent,
            requests_per_target=config.service.requests_per_target,
            fargate_base=config.service.fargate_base,
            fargate_weight=config.service.fargate_weight,
            fargate_spot_weight=config.service.fargate_spot_weight,
            workers=config.service.workers,
            container_port=config.service.container_port,
            health_check_grace_seconds=config.service.health_check_grace_seconds,
            shutdown_grace_seconds=config.service.shutdown_grace_seconds,
            log_retention_days=config.service.log_retention_days,
            logs_kms_key_arn=keys.arn("logs"),
            secrets=ecs_api_secrets(data),
            # The task reads each value at start (ECS the AUTH token, the API and dbusers the
            # others by ARN): the service waits for the versions.
            secret_versions=[data.database.app_version, data.cache.auth_version, data.jwt_key.version],
            secrets_kms_key_arn=keys.arn("secrets"),
            environment_variables={
                **api_environment(config, data),
                **ecs_api_secret_arns(data),
                **api_export_environment(config, exports),
                **sentry_environment(config.service.sentry_dsn_secret_arn, env, image.digest),
            },
            # Read by the API itself, and refreshed while it runs (rotation): never the master's.
            task_secret_arns=list(ecs_api_secret_arns(data).values()),
            init_container=dbusers_container(data),
            # Send export jobs and presign downloads of finished exports; read the Sentry DSN if set.
            task_role_statements=with_sentry(config, sender_policy(exports)),
        ),
        opts,
    )
    worker = worker_service(base, data, image, exports, service)
    return ComputeTier(deployment_alarms=deployment_alarms, service=service, worker=worker)


# The API image's one-shot command that creates or repairs the app's DocumentDB users.
DBUSERS_CONTAINER = "dbusers"
DBUSERS_COMMAND = ("python", "-m", "notes_api.dbusers")


def ecs_api_secrets(data: DataTier) -> dict[str, pulumi.Input[str]]:
    """What ECS injects into the API container from Secrets Manager: the Redis AUTH token, whose
    generations the rotate-cache-token workflow changes by a deploy."""
    return {"NOTES_REDIS_AUTH_TOKEN": data.cache.auth_secret_arn}


def ecs_api_secret_arns(data: DataTier) -> dict[str, pulumi.Input[str]]:
    """The secrets the API reads by ARN with its task role and refreshes while it runs, so a
    rotation reaches it without a deploy (app/notes_api/core/config.py)."""
    return {
        "NOTES_MONGODB_URI_SECRET_ARN": data.database.app_secret_arn,
        "NOTES_JWT_SIGNING_KEY_SECRET_ARN": data.jwt_key.arn,
    }


def dbusers_container(data: DataTier) -> InitContainer:
    """The API task's init container: creates or repairs notes_app (app/notes_api/dbusers.py) as
    the master user before the API starts. The master secret is injected by ECS (execution role)
    into this container only; the app secret it reads by ARN with the task role."""
    return InitContainer(
        name=DBUSERS_CONTAINER,
        command=DBUSERS_COMMAND,
        environment_variables={
            "NOTES_DOCDB_APP_SECRET_ARN": data.database.app_secret_arn,
            "NOTES_MONGODB_TLS_CA_FILE": DocumentDb.CA_FILE,
        },
        secrets={"NOTES_DOCDB_MASTER_SECRET": data.database.master_user_secret_arn},
    )


def api_secrets(data: DataTier) -> dict[str, pulumi.Input[str]]:
    """The API's secret settings on EKS: environment variable -> Secrets Manager secret ARN. The
    DocumentDB one is the app secret, whose JSON value the API reads its ``uri`` from."""
    return {
        "NOTES_MONGODB_URI": data.database.app_secret_arn,
        "NOTES_REDIS_AUTH_TOKEN": data.cache.auth_secret_arn,
        "NOTES_JWT_SIGNING_KEY": data.jwt_key.arn,
    }


def api_environment(config: StackConfig, data: DataTier) -> dict[str, pulumi.Input[str]]:
    """The API's plain settings (app/notes_api/core/config.py lists them all)."""
    return {
        "NOTES_ENV": "production",
        "NOTES_REDIS_URL": data.cache.url,
        "NOTES_MONGODB_TLS_CA_FILE": DocumentDb.CA_FILE,
        # Only the ALB (inside the VPC) is a trusted proxy; the per-IP limits count
        # the viewer address CloudFront sets, which a client cannot send past the
        # origin lock (X-Forwarded-For's left end is whatever the client wrote).
        "NOTES_FORWARDED_ALLOW_IPS": config.network.cidr,
        "NOTES_CLIENT_IP_HEADER": "CloudFront-Viewer-Address",
        "NOTES_CORS_ALLOW_ORIGINS": ",".join(config.service.cors_allow_origins),
    }


def api_namespace(
    env: str, name: str, provider: pulumi.ProviderResource, opts: pulumi.ResourceOptions
) -> Any:
    """The API's namespace, labelled for the Load Balancer Controller's pod readiness gate: a pod
    counts as ready only once its target is healthy in the target group, so a rolling update
    never stops old pods before new ones take traffic (AWS Load Balancer Controller docs, "Pod
    readiness gate": the label must be on the namespace before the pods are created)."""
    import pulumi_kubernetes as k8s  # noqa: PLC0415 (only the EKS path needs it)

    return k8s.core.v1.Namespace(
        f"{env}-api-namespace",
        metadata=k8s.meta.v1.ObjectMetaArgs(
            name=name, labels={"elbv2.k8s.aws/pod-readiness-gate-inject": "enabled"}
        ),
        opts=pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(provider=provider)),
    )


def eks_compute(
    base: Foundation, data: DataTier, edge: EdgeTier, image: ServiceImage, exports: ExportsTier
) -> EksComputeTier:
    """The API and the export worker on EKS, the API behind the edge tier's ALB, running ``image``
    through charts/notes-api.

    The pods join the stack's existing target group through the chart's TargetGroupBinding, so
    CloudFront, WAF, the origin lock and the ALB alarms are those of the ECS path, unchanged.
    """
    # Imported here: the ECS path needs neither the EKS components nor the Kubernetes SDK.
    import pulumi_kubernetes as k8s  # noqa: PLC0415

    from infra.eks.cluster import EksCluster, EksClusterArgs  # noqa: PLC0415
    from infra.eks.controller import LoadBalancerController, LoadBalancerControllerArgs  # noqa: PLC0415
    from stacks.eks_dbusers import dbusers_pod_identity, dbusers_values  # noqa: PLC0415
    from stacks.eks_exports import api_pod_identity, export_values, worker_pod_identity  # noqa: PLC0415

    if image.image_ref is None or image.digest is None:
        raise ValueError("eks_compute needs an image: build one, or promote one and set imageDigest")
    config, env, keys, opts, alb = base.config, base.env, base.keys, base.opts, edge.alb
    check_eks_config(config, pulumi.get_stack())
    eks = config.eks

    cluster = EksCluster(
        f"{env}-eks",
        EksClusterArgs(
            environment=env,
            region=config.region,
            account_id=base.account_id,
            kubernetes_version=eks.kubernetes_version,
            subnet_ids=base.network.private_subnet_ids,
            vpc_id=base.network.vpc_id,
            secrets_kms_key_arn=keys.arn("secrets"),
            logs_kms_key_arn=keys.arn("logs"),
            log_retention_days=eks.log_retention_days,
            public_access_cidrs=tuple(eks.public_access_cidrs),
            node_instance_types=tuple(eks.node_instance_types),
            node_min_size=eks.node_min_size,
            node_desired_size=eks.node_desired_size,
            node_max_size=eks.node_max_size,
            capacity_type=eks.capacity_type,
            node_volume_size_gib=eks.node_volume_size_gib,
        ),
        opts,
    )
    pod_rules = pod_security_group_rules(base, cluster.node_security_group_id)
    pod_identity = api_pod_identity(
        base, exports, cluster.cluster_name, api_secrets(data), API_SERVICE_ACCOUNT
    )
    worker_identity = worker_pod_identity(base, exports, cluster.cluster_name, api_secrets(data))
    dbusers_identity = dbusers_pod_identity(base, data, cluster.cluster_name)
    controller = LoadBalancerController(
        f"{env}-lb-controller",
        LoadBalancerControllerArgs(
            environment=env,
            cluster_name=cluster.cluster_name,
            vpc_id=base.network.vpc_id,
            region=config.region,
            provider=cluster.provider,
            # The controller reads its AWS credentials through Pod Identity: its pods must not
            # start before the agent that hands them out.
            depends_on=(cluster.pod_identity_agent,),
        ),
        opts,
    )
    # Judged on the ALB and its target group; ECS also rolls a deployment back on them, so they
    # exist before the service.
    deployment_alarms = stack_deployment_alarms(base, edge)
    values = pulumi.Output.all(
        repository=image.repository_url,
        digest=image.digest,
        target_group_arn=alb.target_group.arn,
        # Read from the target group itself, not a copy of LoadBalancerArgs' default.
        deregistration_delay_seconds=alb.target_group.deregistration_delay,
        redis_url=data.cache.url,
        secret_arns=pulumi.Output.all(**api_secrets(data)),
    ).apply(lambda v: api_chart_values(config, **v))
    namespace = api_namespace(env, eks.namespace, cluster.provider, opts)
    identities = [pod_identity, worker_identity, dbusers_identity]
    release = k8s.helm.v3.Release(
        f"{env}-api-release",
        k8s.helm.v3.ReleaseArgs(
            name=API_RELEASE,
            chart=API_CHART_PATH,
            namespace=namespace.metadata.name,
            values=pulumi.Output.all(
                values, export_values(config, exports, image.digest), dbusers_values(data)
            ).apply(lambda v: v[0] | v[1] | v[2]),
            # dbusers.* adds the chart's hook Job, which creates the app's DocumentDB users before the
            # pods start; Helm's hooks run under this resource (stacks/eks_dbusers.py says why).
            # A failed upgrade, or a failed hook Job, rolls back to the last release instead of
            # leaving half of it.
            atomic=True,
            cleanup_on_fail=True,
            max_history=10,
        ),
        pulumi.ResourceOptions.merge(
            opts,
            pulumi.ResourceOptions(
                provider=cluster.provider,
                # The controller brings the TargetGroupBinding's CRD; a pod gets its role only if its
                # association exists first (EKS CreatePodIdentityAssociation); pods reach data by the rules.
                depends_on=[controller, *identities, *pod_rules, cluster.pod_identity_agent, namespace],
            ),
        ),
    )
    return EksComputeTier(
        deployment_alarms=deployment_alarms,
        cluster=cluster,
        pod_identity=pod_identity,
        controller=controller,
        worker_pod_identity=worker_identity,
        dbusers_pod_identity=dbusers_identity,
        release=release,
        namespace=eks.namespace,
    )


def check_eks_config(config: StackConfig, stack: str) -> None:
    """What the chart would refuse at render time, named by the stack file's key instead."""
    if config.service.min_count <= CHART_PDB_MIN_AVAILABLE:
        raise StackConfigError(
            f"Pulumi.{stack}.yaml: {PROJECT}:serviceMinCount: {config.service.min_count} must exceed the "
            f"chart's podDisruptionBudget.minAvailable ({CHART_PDB_MIN_AVAILABLE}) on compute: eks, "
            "or every node drain stalls: set 2 or more"
        )


def pod_security_group_rules(base: Foundation, pod_group_id: pulumi.Input[str]) -> list[pulumi.Resource]:
    """The API's network rules, moved from the ECS tasks' group to the group the pods use.

    The pods take their node's group (``EksCluster.node_security_group_id``, the cluster security
    group EKS attaches to managed nodes) rather than security groups for pods, which need the
    VPC CNI's ENABLE_POD_ENI and trunk-capable instance types for every pod. Its outbound is
    EKS's default allow-all, so only the inbound side of each path needs a rule here.
    """
    env, opts, groups = base.env, base.opts, base.groups
    port = base.config.service.container_port
    paths: list[
        tuple[
            str,
            type[aws.vpc.SecurityGroupIngressRule | aws.vpc.SecurityGroupEgressRule],
            pulumi.Input[str],
            pulumi.Input[str],
            int,
            str,
        ]
    ] = [
        (
            "alb-out-app-pods",
            aws.vpc.SecurityGroupEgressRule,
            groups.alb_id,
            pod_group_id,
            port,
            "Requests and health checks to the API pods",
        ),
        (
            "pods-in-app-alb",
            aws.vpc.SecurityGroupIngressRule,
            pod_group_id,
            groups.alb_id,
            port,
            "Requests and health checks from the load balancer",
        ),
        (
            "docdb-in-pods",
            aws.vpc.SecurityGroupIngressRule,
            groups.docdb_id,
            pod_group_id,
            DOCDB_PORT,
            "MongoDB wire protocol from the API pods",
        ),
        (
            "redis-in-pods",
            aws.vpc.SecurityGroupIngressRule,
            groups.redis_id,
            pod_group_id,
            REDIS_PORT,
            "Redis protocol from the API pods",
        ),
    ]
    return [
        rule(
            f"{env}-sg-{role}",
            security_group_id=group,
            referenced_security_group_id=peer,
            ip_protocol="tcp",
            from_port=rule_port,
            to_port=rule_port,
            description=description,
            opts=opts,
        )
        for role, rule, group, peer, rule_port, description in paths
    ]


def api_chart_values(
    config: StackConfig,
    *,
    repository: str,
    digest: str,
    target_group_arn: str,
    deregistration_delay_seconds: int,
    redis_url: str,
    secret_arns: dict[str, str],
) -> dict[str, Any]:
    """The chart's values (charts/notes-api/values.yaml documents each) for this stack.

    Pure, like ``infra.ecs.container_definition``: the Release wires Outputs into it, tests
    read it without mocks. Sizes come from the service* keys: Fargate CPU units are 1/1024 vCPU.
    """
    service = config.service
    cpu = f"{service.cpu * 1000 // 1024}m"
    memory = f"{service.memory}Mi"
    extra_env = (
        {"NOTES_CORS_ALLOW_ORIGINS": ",".join(service.cors_allow_origins)}
        if service.cors_allow_origins
        else {}
    )
    # The chart has no Sentry values: its extraEnv carries them, as ECS's environment does.
    extra_env |= sentry_environment(service.sentry_dsn_secret_arn, config.general.environment, digest)
    return {
        "image": {"repository": repository, "digest": digest},
        "containerPort": service.container_port,
        "workers": service.workers,
        # Requests equal limits: the scheduler reserves what a pod may use, and memory is never
        # overcommitted on a node (an OOM kill of a neighbour's pod).
        "resources": {"requests": {"cpu": cpu, "memory": memory}, "limits": {"cpu": cpu, "memory": memory}},
        "config": {
            "env": "production",
            "redisUrl": redis_url,
            "mongodbUriSecretArn": secret_arns["NOTES_MONGODB_URI"],
            "redisAuthTokenSecretArn": secret_arns["NOTES_REDIS_AUTH_TOKEN"],
            "jwtSigningKeySecretArn": secret_arns["NOTES_JWT_SIGNING_KEY"],
            "mongodbTlsCaFile": DocumentDb.CA_FILE,
            "forwardedAllowIps": config.network.cidr,
            "clientIpHeader": "CloudFront-Viewer-Address",
            "extraEnv": extra_env,
        },
        "shutdown": {
            # The pods' preStop sleep waits the target group's delay out, so the ALB stops
            # routing to a pod before it gets SIGTERM.
            "deregistrationDelaySeconds": deregistration_delay_seconds,
            "graceSeconds": service.shutdown_grace_seconds,
        },
        "autoscaling": {
            "enabled": True,
            "minReplicas": service.min_count,
            "maxReplicas": service.max_count,
            "targetCPUUtilizationPercentage": service.cpu_target_percent,
        },
        "serviceAccount": {"name": API_SERVICE_ACCOUNT},
        "targetGroupBinding": {"targetGroupArn": target_group_arn},
        "networkPolicy": {
            # The ALB's nodes sit in the VPC's public subnets.
            "ingressCidrs": [config.network.cidr],
            "dataTierCidrs": subnet_cidrs(config.network.cidr, len(config.network.availability_zones))[
                "isolated"
            ],
        },
    }

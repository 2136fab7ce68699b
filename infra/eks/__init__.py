"""The EKS path's components, from plain ``pulumi_aws`` resources so that every child is visible
under mocks (pulumi_eks.Cluster is a remote component and stays opaque).

Interface the stack codes against (kept stable):

- ``infra.eks.cluster.EksCluster(name, EksClusterArgs(environment, region, account_id,
  kubernetes_version, subnet_ids, vpc_id, secrets_kms_key_arn, logs_kms_key_arn,
  log_retention_days=30, public_access_cidrs=(), node_instance_types, node_min_size,
  node_desired_size, node_max_size, capacity_type="ON_DEMAND", admin_principal_arns=(),
  node_volume_size_gib=20, addon_versions=DEFAULT_ADDON_VERSIONS), opts)``: control plane
  (private endpoint, secrets envelope encryption, every log type to an encrypted log group made
  first), access entries, managed node group with a launch template, pinned core add-ons.
  Attributes: ``cluster_name``, ``cluster_arn``, ``endpoint``, ``certificate_authority``,
  ``cluster_security_group_id``, ``node_security_group_id`` (the cluster security group EKS
  attaches to managed nodes; pods on the node use it), ``node_role_arn``, ``provider``
  (a ``pulumi_kubernetes.Provider``, stable across ``up``s), ``pod_identity_agent`` (the add-on:
  associations and pods that use them depend on it).
- ``infra.eks.pod_identity.ApiPodIdentity(name, ApiPodIdentityArgs(environment, region,
  cluster_name, namespace, service_account, secret_arns, secrets_kms_key_arn, statements=()),
  opts)``: the API's role (GetSecretValue on exactly those ARNs, kms:Decrypt via Secrets Manager,
  and the statements given: the stack passes the exports tier's sender statements) and its Pod
  Identity association. Attributes ``role_arn``, ``role_name`` (``EksCluster.api_role_arn`` is
  not on the cluster: the API role lives here so that the cluster does not need the secrets).
- ``infra.eks.pod_identity.WorkerPodIdentity(name, WorkerPodIdentityArgs(...same fields...,
  statements), opts)``: the export worker's role (``notes-<env>-worker-pod``: the MongoDB URI's
  secret and the exports tier's worker statements, required) for the chart's
  ``worker.serviceAccount.name``. Attributes ``role_arn``, ``role_name``.
- ``infra.eks.controller.LoadBalancerController(name, LoadBalancerControllerArgs(environment,
  cluster_name, vpc_id, region, provider, chart_version=CHART_VERSION, namespace="kube-system",
  replicas=2, depends_on=(cluster.pod_identity_agent,)), opts)``: the AWS Load
  Balancer Controller's role (its upstream IAM policy, ``lbc_iam_policy.json``), its Pod Identity
  association and the Helm release. Attributes ``role_arn``, ``release``.
- ``infra.eks.provider.kubernetes_provider(name, *, cluster_name, endpoint, certificate_authority,
  region, opts)``: the Kubernetes provider from stable outputs with an exec credential
  (EksCluster already makes one: use ``EksCluster.provider``).
"""

"""The arguments whose change replaces a resource, per type, as terraform-provider-aws declares them
(ForceNew / RequiresReplace), which pulumi-aws inherits. Read from the provider's source; each entry
names the file.

Only top-level arguments, by their Pulumi wire name (``cluster_identifier`` -> ``clusterIdentifier``; a
renamed list block such as ECR's ``encryption_configuration`` -> ``encryptionConfigurations``). A
top-level block is listed when the block itself, or members of it, force a replacement; the note
says which. Replacements decided by a ``CustomizeDiff`` (conditional) are in the note, not in
``force_new``, unless the block is listed for a nested flag as above.

``source`` is ``<path in hashicorp/terraform-provider-aws>@<ref>``. The ref is the commit (12 hex)
where the stored copy of the file names one. The code index's file listing offers, for most of
these paths, a 2021-2022 copy (provider v4, before the AWS SDK v2 migration) that lacks many
arguments pulumi-aws 7.51.1 has; the newest stored copy was then found by searching the file's
text, and the index names no commit for it: such refs read ``index:<id>`` (the id under which the
stored file can be read again). pulumi-aws 7.51.1 may wrap a newer provider than any stored copy;
arguments it has that the copy lacks are named in the note as unchecked.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Replacement:
    name: str  # the input that is the resource's physical name
    # wire names of the top-level inputs that force a replacement (name included if it does)
    force_new: frozenset[str]
    source: str  # "internal/service/docdb/cluster_parameter_group.go@<commit 12 hex>" or "...@index:<id>"
    note: str = ""  # anything surprising (e.g. "description is ForceNew", nested blocks)

    @property
    def name_forces_replacement(self) -> bool:
        """Whether changing the physical name replaces the resource."""
        return self.name in self.force_new


FORCE_NEW: dict[str, Replacement] = {
    "aws:appautoscaling/policy:Policy": Replacement(
        name="name",
        force_new=frozenset({"name", "resourceId", "scalableDimension", "serviceNamespace"}),
        source="internal/service/appautoscaling/policy.go@index:11158598336",
        note="policyType and the three *PolicyConfiguration blocks update in place (PutScalingPolicy).",
    ),
    "aws:cloudfront/cachePolicy:CachePolicy": Replacement(
        name="name",
        force_new=frozenset(),
        source="internal/service/cloudfront/cache_policy.go@37d5fa21a552",
        note=(
            "Nothing forces a replacement: name is updated in place (UpdateCachePolicy). A newer "
            "SDK-v2 copy (index:1702290492) has the same top-level flags."
        ),
    ),
    "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy": Replacement(
        name="name",
        force_new=frozenset(),
        source="internal/service/cloudfront/response_headers_policy.go@4e81648bd90b",
        note=(
            "Nothing in the schema is ForceNew; name is updated in place. Only this 2022 copy was read; "
            "inputs added since were not checked."
        ),
    ),
    "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination": Replacement(
        name="name",
        force_new=frozenset({"name", "outputFormat", "deliveryDestinationConfiguration"}),
        source="internal/service/logs/delivery_destination.go@aa35a0ec794e",
        note=(
            "Plugin Framework, stringplanmodifier.RequiresReplace on name and outputFormat. "
            "deliveryDestinationConfiguration is listed for its nested destinationResourceArn, which has "
            "RequiresReplaceIf: it replaces only when the ARN's service changes (or the new ARN is unknown). "
            "deliveryDestinationType is computed-only in this copy but an input in pulumi-aws 7.51.1; "
            "unchecked."
        ),
    ),
    "aws:cloudwatch/logDeliverySource:LogDeliverySource": Replacement(
        name="name",
        force_new=frozenset({"logType", "name", "resourceArn"}),
        source="internal/service/logs/delivery_source.go@8fac77f15596",
        note="Plugin Framework; every configurable input is RequiresReplace (Update is a no-op).",
    ),
    "aws:cloudwatch/logGroup:LogGroup": Replacement(
        name="name",
        force_new=frozenset({"logGroupClass", "name", "namePrefix"}),
        source="internal/service/logs/group.go@index:17179702308",
        note=(
            "logGroupClass is ForceNew. kmsKeyId (Associate/DisassociateKmsKey), retentionInDays and "
            "deletionProtectionEnabled update in place."
        ),
    ),
    "aws:cloudwatch/metricAlarm:MetricAlarm": Replacement(
        name="alarmName",
        force_new=frozenset({"alarmName"}),
        source="internal/service/cloudwatch/metric_alarm.go@index:53238791901",
        note="Everything else is re-sent with PutMetricAlarm; only the alarm name replaces.",
    ),
    "aws:docdb/cluster:Cluster": Replacement(
        name="clusterIdentifier",
        force_new=frozenset(
            {
                "availabilityZones",
                "clusterIdentifier",
                "clusterIdentifierPrefix",
                "dbSubnetGroupName",
                "engine",
                "kmsKeyId",
                "masterUsername",
                "port",
                "restoreToPointInTime",
                "snapshotIdentifier",
                "storageEncrypted",
            }
        ),
        source="internal/service/docdb/cluster.go@index:4814102057",
        note=(
            "restoreToPointInTime is a ForceNew block (its members too). snapshotIdentifier is ForceNew but "
            "a DiffSuppressFunc lets it be removed without a replacement. CustomizeDiff forces a replacement "
            "when serverlessV2ScalingConfiguration is removed (adding or changing it is in place). "
            "engineVersion, dbClusterParameterGroupName, vpcSecurityGroupIds, storageType update in place. "
            "The file listing's copy (0b2fe557fcd2, 2022) lacks most of these inputs."
        ),
    ),
    "aws:docdb/clusterInstance:ClusterInstance": Replacement(
        name="identifier",
        force_new=frozenset(
            {"availabilityZone", "clusterIdentifier", "engine", "identifier", "identifierPrefix"}
        ),
        source="internal/service/docdb/cluster_instance.go@index:1802322414",
        note="instanceClass, promotionTier and caCertIdentifier update in place (ModifyDBInstance).",
    ),
    "aws:docdb/clusterParameterGroup:ClusterParameterGroup": Replacement(
        name="name",
        force_new=frozenset({"description", "family", "name", "namePrefix"}),
        source="internal/service/docdb/cluster_parameter_group.go@index:1517930734",
        note=(
            "description is ForceNew (AWS has no call to change it). parameters update in place. Same flags "
            "in the file listing's copy (1037711a99b6)."
        ),
    ),
    "aws:docdb/subnetGroup:SubnetGroup": Replacement(
        name="name",
        force_new=frozenset({"name", "namePrefix"}),
        source="internal/service/docdb/subnet_group.go@index:2392599633",
        note="description and subnetIds update in place (ModifyDBSubnetGroup).",
    ),
    "aws:ecr/repository:Repository": Replacement(
        name="name",
        force_new=frozenset({"encryptionConfigurations", "name"}),
        source="internal/service/ecr/repository.go@index:5465205129",
        note=(
            "encryptionConfigurations (encryption_configuration) is a ForceNew block and its members "
            "encryption_type and kms_key are ForceNew too. imageTagMutability and imageScanningConfiguration "
            "update in place."
        ),
    ),
    "aws:ecs/cluster:Cluster": Replacement(
        name="name",
        force_new=frozenset({"name"}),
        source="internal/service/ecs/cluster.go@index:2198757884",
        note="configuration, serviceConnectDefaults and settings update in place (UpdateCluster).",
    ),
    "aws:ecs/service:Service": Replacement(
        name="name",
        force_new=frozenset({"cluster", "iamRole", "launchType", "name", "schedulingStrategy"}),
        source="internal/service/ecs/service.go@index:5237802116",
        note=(
            "deploymentController is not ForceNew in this copy (older provider versions had it so). The "
            "CustomizeDiff capacityProviderStrategyCustomizeDiff may force a replacement on some "
            "capacityProviderStrategies changes; its body was not read."
        ),
    ),
    "aws:ecs/taskDefinition:TaskDefinition": Replacement(
        name="family",
        force_new=frozenset(
            {
                "containerDefinitions",
                "cpu",
                "enableFaultInjection",
                "ephemeralStorage",
                "executionRoleArn",
                "family",
                "ipcMode",
                "memory",
                "networkMode",
                "pidMode",
                "placementConstraints",
                "proxyConfiguration",
                "requiresCompatibilities",
                "runtimePlatform",
                "taskRoleArn",
                "volumes",
            }
        ),
        source="internal/service/ecs/task_definition.go@index:1837674951",
        note=(
            "A revision is immutable: every input but skipDestroy, trackLatest and tags is ForceNew "
            "(volumes is the volume block). enableFaultInjection's flag read in a later copy "
            "(index:4453944302). The stored copies also have inference_accelerator (ForceNew), which "
            "pulumi-aws 7.51.1 no longer has."
        ),
    ),
    "aws:elasticache/parameterGroup:ParameterGroup": Replacement(
        name="name",
        force_new=frozenset({"description", "family", "name"}),
        source="internal/service/elasticache/parameter_group.go@index:1530165139",
        note="description is ForceNew; name is lower-cased by a StateFunc; there is no namePrefix.",
    ),
    "aws:elasticache/replicationGroup:ReplicationGroup": Replacement(
        name="replicationGroupId",
        force_new=frozenset(
            {
                "atRestEncryptionEnabled",
                "dataTieringEnabled",
                "globalReplicationGroupId",
                "kmsKeyId",
                "networkType",
                "port",
                "replicationGroupId",
                "securityGroupNames",
                "snapshotArns",
                "snapshotName",
                "subnetGroupName",
            }
        ),
        source="internal/service/elasticache/replication_group.go@index:4789450415",
        note=(
            "CustomizeDiff also replaces on an engine or engineVersion downgrade, on significant "
            "nodeGroupConfigurations changes, and on a transitEncryptionEnabled change while the actual "
            "engine version is below 7.0.5. preferredCacheClusterAzs is not ForceNew here. durability and "
            "authTokenWo (inputs in pulumi-aws 7.51.1) are not in the stored copy; unchecked."
        ),
    ),
    "aws:elasticache/subnetGroup:SubnetGroup": Replacement(
        name="name",
        force_new=frozenset({"name"}),
        source="internal/service/elasticache/subnet_group.go@index:1940223321",
        note="description and subnetIds update in place; name is lower-cased; there is no namePrefix.",
    ),
    "aws:iam/role:Role": Replacement(
        name="name",
        force_new=frozenset({"name", "namePrefix", "path"}),
        source="internal/service/iam/role.go@index:4782037191",
        note=(
            "path is ForceNew. assumeRolePolicy, description, maxSessionDuration and permissionsBoundary "
            "update in place."
        ),
    ),
    "aws:iam/rolePolicy:RolePolicy": Replacement(
        name="name",
        force_new=frozenset({"name", "namePrefix", "role"}),
        source="internal/service/iam/role_policy.go@index:4616927945",
        note="policy updates in place (PutRolePolicy).",
    ),
    "aws:kms/alias:Alias": Replacement(
        name="name",
        force_new=frozenset({"name", "namePrefix"}),
        source="internal/service/kms/alias.go@index:1796884670",
        note="targetKeyId updates in place (UpdateAlias).",
    ),
    "aws:lb/loadBalancer:LoadBalancer": Replacement(
        name="name",
        force_new=frozenset({"customerOwnedIpv4Pool", "internal", "loadBalancerType", "name", "namePrefix"}),
        source="internal/service/elbv2/load_balancer.go@index:1325024694",
        note=(
            "internal is ForceNew. CustomizeDiff (customizeDiffLoadBalancerALB/NLB/GWLB, bodies not read) "
            "can force a replacement on some subnet or security-group changes. Inputs newer than this copy "
            "(enablePrefixForIpv6SourceNat, enableZonalShift, healthCheckLogs, ipamPools, "
            "minimumLoadBalancerCapacity, secondaryIpsAutoAssignedPerSubnet) are unchecked."
        ),
    ),
    "aws:lb/targetGroup:TargetGroup": Replacement(
        name="name",
        force_new=frozenset(
            {
                "ipAddressType",
                "name",
                "namePrefix",
                "port",
                "protocol",
                "protocolVersion",
                "targetType",
                "vpcId",
            }
        ),
        source="internal/service/elbv2/target_group.go@index:1349870850",
        note=(
            "port, protocol, protocolVersion, targetType, vpcId and ipAddressType are ForceNew. "
            "targetControlPort (an input in pulumi-aws 7.51.1) is not in the stored copy; unchecked."
        ),
    ),
    "aws:route53/record:Record": Replacement(
        name="name",
        force_new=frozenset({"name", "zoneId"}),
        source="internal/service/route53/record.go@index:2119358379",
        note=(
            "type and setIdentifier are not ForceNew: a change is applied as DELETE + CREATE in one "
            "ChangeResourceRecordSets batch, an update to the engine, not a replacement."
        ),
    ),
    "aws:secretsmanager/secret:Secret": Replacement(
        name="name",
        force_new=frozenset({"name", "namePrefix"}),
        source="internal/service/secretsmanager/secret.go@index:1615790899",
        note="kmsKeyId, description, policy and replicas update in place.",
    ),
    "aws:sns/topic:Topic": Replacement(
        name="name",
        force_new=frozenset({"fifoTopic", "name", "namePrefix"}),
        source="internal/service/sns/topic.go@index:1224120052",
        note=(
            "fifoTopic is ForceNew; kmsMasterKeyId and the other attributes update in place "
            "(SetTopicAttributes). fifoThroughputScope and maximumMessageSize (inputs in pulumi-aws 7.51.1) "
            "are not in the stored copy; unchecked."
        ),
    ),
    "aws:wafv2/webAcl:WebAcl": Replacement(
        name="name",
        force_new=frozenset({"name", "scope"}),
        source="internal/service/wafv2/web_acl.go@index:1267159816",
        note=(
            "description and rules update in place. namePrefix, ruleJson, dataProtectionConfig and "
            "monetizationConfig (inputs in pulumi-aws 7.51.1) are not in the stored copy; namePrefix's "
            "flag is unchecked."
        ),
    ),
    "aws:ec2/securityGroup:SecurityGroup": Replacement(
        name="name",
        force_new=frozenset({"description", "name", "namePrefix", "vpcId"}),
        source="internal/service/ec2/vpc_security_group.go@index:1663588308",
        note="description is ForceNew (EC2 cannot change it); ingress and egress update in place.",
    ),
    "aws:sqs/queue:Queue": Replacement(
        name="name",
        force_new=frozenset({"fifoQueue", "name", "namePrefix"}),
        source="internal/service/sqs/queue.go@cda04ab9f781",
        note=(
            "Every attribute but fifoQueue and the name updates in place (SetQueueAttributes): "
            "kmsMasterKeyId, redrivePolicy, visibility and retention included. Only this 2022 (SDK v1) "
            "copy was read; region (an input in pulumi-aws 7.51.1) is unchecked."
        ),
    ),
    "aws:sqs/queuePolicy:QueuePolicy": Replacement(
        name="queueUrl",
        force_new=frozenset({"queueUrl"}),
        source="internal/service/sqs/queue_policy.go@af55dfb90500",
        note="The queue's Policy attribute: policy updates in place, a new queueUrl is another queue.",
    ),
    "aws:sqs/redriveAllowPolicy:RedriveAllowPolicy": Replacement(
        name="queueUrl",
        force_new=frozenset({"queueUrl"}),
        source="internal/service/sqs/queue_redrive_allow_policy.go@3154614b63bb",
        note="The queue's RedriveAllowPolicy attribute: redriveAllowPolicy updates in place.",
    ),
    "aws:s3/bucketLogging:BucketLogging": Replacement(
        name="bucket",
        force_new=frozenset({"bucket", "expectedBucketOwner"}),
        source="internal/service/s3/bucket_logging.go@14d18abfb86a",
        note=(
            "targetBucket, targetPrefix and targetGrants update in place (PutBucketLogging). "
            "targetObjectKeyFormat and region (inputs in pulumi-aws 7.51.1) are not in the stored copy; "
            "unchecked."
        ),
    ),
    "aws:backup/vault:Vault": Replacement(
        name="name",
        force_new=frozenset({"kmsKeyArn", "name"}),
        source="internal/service/backup/vault.go@fa3f2df0f54f",
        note=(
            "The key is ForceNew; tags update in place. forceDestroy and region (inputs in pulumi-aws "
            "7.51.1) are not in this 2022 copy; unchecked."
        ),
    ),
    "aws:backup/vaultLockConfiguration:VaultLockConfiguration": Replacement(
        name="backupVaultName",
        force_new=frozenset({"backupVaultName", "changeableForDays", "maxRetentionDays", "minRetentionDays"}),
        source="internal/service/backup/vault_lock_configuration.go@552c04685ba2",
        note=(
            "No Update: every input replaces. PutBackupVaultLockConfiguration sets the vault's one lock, so "
            "a replacement created first is removed by the old one's delete. region (an input in "
            "pulumi-aws 7.51.1) is not in this copy; unchecked."
        ),
    ),
    "aws:backup/vaultNotifications:VaultNotifications": Replacement(
        name="backupVaultName",
        force_new=frozenset({"backupVaultEvents", "backupVaultName", "snsTopicArn"}),
        source="internal/service/backup/vault_notifications.go@858f79ecbcd8",
        note=(
            "No Update: every input replaces; PutBackupVaultNotifications sets the vault's one "
            "configuration. region (an input in pulumi-aws 7.51.1) is not in this copy; unchecked."
        ),
    ),
    "aws:backup/plan:Plan": Replacement(
        name="name",
        force_new=frozenset({"name"}),
        source="internal/service/backup/plan.go@fd4ee62694a9",
        note=(
            "rules (schedules, windows, lifecycles, copy actions) and advancedBackupSettings update in "
            "place (UpdateBackupPlan). scanSettings and region (inputs in pulumi-aws 7.51.1) are not in "
            "this copy; unchecked."
        ),
    ),
    "aws:backup/selection:Selection": Replacement(
        name="name",
        force_new=frozenset(
            {"conditions", "iamRoleArn", "name", "notResources", "planId", "resources", "selectionTags"}
        ),
        source="internal/service/backup/selection.go@8a7050b71a5c",
        note="No Update: every input replaces. region (an input in pulumi-aws 7.51.1) is unchecked.",
    ),
    "aws:budgets/budget:Budget": Replacement(
        name="name",
        force_new=frozenset({"accountId", "name", "namePrefix"}),
        source="internal/service/budgets/budget.go@676e9547eee7",
        note=(
            "Limit, filters, cost types and notifications update in place (UpdateBudget, notifications "
            "diffed and re-created). autoAdjustData, billingViewArn, filterExpression, metrics and "
            "plannedLimits (inputs in pulumi-aws 7.51.1) are not in this copy; unchecked."
        ),
    ),
    "aws:costexplorer/anomalyMonitor:AnomalyMonitor": Replacement(
        name="name",
        force_new=frozenset({"monitorDimension", "monitorSpecification", "monitorType"}),
        source="internal/service/ce/anomaly_monitor.go@index:1217829184",
        note=(
            "The name updates in place (UpdateAnomalyMonitor); an ARN, not the name, identifies a "
            "monitor. The listing's copy (9173b36a64be) lacks ForceNew on monitorDimension."
        ),
    ),
    "aws:lambda/function:Function": Replacement(
        name="name",
        force_new=frozenset({"name", "packageType"}),
        source="internal/service/lambda/function.go@262d4da63aa7",
        note=(
            "function_name and package_type are ForceNew; code, handler, runtime, role, vpc_config and "
            "environment update in place (UpdateFunctionCode / UpdateFunctionConfiguration). This copy is "
            "the SDK v1 one: loggingConfig and the other inputs pulumi-aws 7.51.1 has since are unchecked."
        ),
    ),
    "aws:costexplorer/anomalySubscription:AnomalySubscription": Replacement(
        name="name",
        force_new=frozenset({"accountId", "name"}),
        source="internal/service/ce/anomaly_subscription.go@index:13260059061",
        note="frequency, monitorArnLists, subscribers and thresholdExpression update in place.",
    ),
}

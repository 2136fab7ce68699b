"""Type tokens the rules match on, in one place: the engine hands policies these exact strings.

A rule that names a token nobody registers never fires, so tests/policies checks every token
here against the pulumi_aws schema.
"""

from __future__ import annotations

AWS_PROVIDER = "pulumi:providers:aws"

# network
VPC = "aws:ec2/vpc:Vpc"
SUBNET = "aws:ec2/subnet:Subnet"
FLOW_LOG = "aws:ec2/flowLog:FlowLog"
SECURITY_GROUP = "aws:ec2/securityGroup:SecurityGroup"
DEFAULT_SECURITY_GROUP = "aws:ec2/defaultSecurityGroup:DefaultSecurityGroup"
SECURITY_GROUP_RULE = "aws:ec2/securityGroupRule:SecurityGroupRule"
SECURITY_GROUP_INGRESS_RULE = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"

# edge
LOAD_BALANCERS = frozenset({"aws:lb/loadBalancer:LoadBalancer", "aws:alb/loadBalancer:LoadBalancer"})
LISTENERS = frozenset({"aws:lb/listener:Listener", "aws:alb/listener:Listener"})
TARGET_GROUPS = frozenset({"aws:lb/targetGroup:TargetGroup", "aws:alb/targetGroup:TargetGroup"})
DISTRIBUTION = "aws:cloudfront/distribution:Distribution"
ACM_CERTIFICATE = "aws:acm/certificate:Certificate"
ACM_CERTIFICATE_VALIDATION = "aws:acm/certificateValidation:CertificateValidation"
WEB_ACL = "aws:wafv2/webAcl:WebAcl"
WEB_ACL_LOGGING = "aws:wafv2/webAclLoggingConfiguration:WebAclLoggingConfiguration"
LOG_DELIVERY_SOURCE = "aws:cloudwatch/logDeliverySource:LogDeliverySource"

# compute
ECS_CLUSTER = "aws:ecs/cluster:Cluster"
ECS_SERVICE = "aws:ecs/service:Service"
TASK_DEFINITION = "aws:ecs/taskDefinition:TaskDefinition"
ECR_REPOSITORY = "aws:ecr/repository:Repository"

# eks
EKS_CLUSTER = "aws:eks/cluster:Cluster"
EKS_NODE_GROUP = "aws:eks/nodeGroup:NodeGroup"
LAUNCH_TEMPLATE = "aws:ec2/launchTemplate:LaunchTemplate"

# data
DOCDB_CLUSTER = "aws:docdb/cluster:Cluster"
DOCDB_INSTANCE = "aws:docdb/clusterInstance:ClusterInstance"
DOCDB_PARAMETER_GROUP = "aws:docdb/clusterParameterGroup:ClusterParameterGroup"
REPLICATION_GROUP = "aws:elasticache/replicationGroup:ReplicationGroup"
BUCKETS = frozenset({"aws:s3/bucket:Bucket", "aws:s3/bucketV2:BucketV2"})
BUCKET_ENCRYPTION = frozenset(
    {
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "aws:s3/bucketServerSideEncryptionConfigurationV2:BucketServerSideEncryptionConfigurationV2",
    }
)
BUCKET_PUBLIC_ACCESS_BLOCK = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_LOGGING = frozenset({"aws:s3/bucketLogging:BucketLogging", "aws:s3/bucketLoggingV2:BucketLoggingV2"})

# queues
SQS_QUEUE = "aws:sqs/queue:Queue"

# secrets
KMS_KEY = "aws:kms/key:Key"
SECRETS_MANAGER_SECRET = "aws:secretsmanager/secret:Secret"  # noqa: S105 (a type token)
SECRET_ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"  # noqa: S105 (a type token)
LAMBDA_FUNCTION = "aws:lambda/function:Function"
IAM_ROLE = "aws:iam/role:Role"
IAM_POLICY_DOCUMENTS = frozenset(
    {
        "aws:iam/policy:Policy",
        "aws:iam/rolePolicy:RolePolicy",
        "aws:iam/userPolicy:UserPolicy",
        "aws:iam/groupPolicy:GroupPolicy",
    }
)
IAM_POLICY_ATTACHMENTS = frozenset(
    {
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
        "aws:iam/userPolicyAttachment:UserPolicyAttachment",
        "aws:iam/groupPolicyAttachment:GroupPolicyAttachment",
        "aws:iam/policyAttachment:PolicyAttachment",
    }
)

# observability
LOG_GROUP = "aws:cloudwatch/logGroup:LogGroup"
METRIC_ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
SNS_TOPIC = "aws:sns/topic:Topic"

# Resource types that accept `tags`: those this project registers or is about to, checked
# against the pulumi_aws schema by the tests. The provider's default tags reach every one.
TAGGABLE = frozenset(
    {
        VPC,
        SUBNET,
        FLOW_LOG,
        SECURITY_GROUP,
        DEFAULT_SECURITY_GROUP,
        SECURITY_GROUP_INGRESS_RULE,
        "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
        "aws:ec2/eip:Eip",
        "aws:ec2/internetGateway:InternetGateway",
        "aws:ec2/natGateway:NatGateway",
        "aws:ec2/routeTable:RouteTable",
        "aws:ec2/vpcEndpoint:VpcEndpoint",
        *LOAD_BALANCERS,
        *LISTENERS,
        *TARGET_GROUPS,
        "aws:lb/listenerRule:ListenerRule",
        ACM_CERTIFICATE,
        DISTRIBUTION,
        WEB_ACL,
        "aws:wafv2/ipSet:IpSet",
        "aws:wafv2/ruleGroup:RuleGroup",
        LOG_DELIVERY_SOURCE,
        "aws:cloudwatch/logDelivery:LogDelivery",
        "aws:cloudwatch/logDeliveryDestination:LogDeliveryDestination",
        "aws:route53/healthCheck:HealthCheck",
        ECS_CLUSTER,
        ECS_SERVICE,
        TASK_DEFINITION,
        ECR_REPOSITORY,
        EKS_CLUSTER,
        EKS_NODE_GROUP,
        LAUNCH_TEMPLATE,
        "aws:eks/addon:Addon",
        "aws:eks/accessEntry:AccessEntry",
        "aws:eks/podIdentityAssociation:PodIdentityAssociation",
        "aws:appautoscaling/target:Target",
        DOCDB_CLUSTER,
        DOCDB_INSTANCE,
        DOCDB_PARAMETER_GROUP,
        "aws:docdb/subnetGroup:SubnetGroup",
        REPLICATION_GROUP,
        "aws:elasticache/parameterGroup:ParameterGroup",
        "aws:elasticache/subnetGroup:SubnetGroup",
        *BUCKETS,
        SQS_QUEUE,
        "aws:backup/plan:Plan",
        "aws:backup/vault:Vault",
        "aws:budgets/budget:Budget",
        "aws:costexplorer/anomalyMonitor:AnomalyMonitor",
        "aws:costexplorer/anomalySubscription:AnomalySubscription",
        KMS_KEY,
        SECRETS_MANAGER_SECRET,
        LAMBDA_FUNCTION,
        IAM_ROLE,
        "aws:iam/policy:Policy",
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
        LOG_GROUP,
        METRIC_ALARM,
        "aws:cloudwatch/compositeAlarm:CompositeAlarm",
        SNS_TOPIC,
    }
)

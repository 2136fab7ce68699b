"""The bootstrap stack's output names: the program exports these, tests and the README use them.

The workflows read the role ARNs from GitHub variables: ``AWS_DEPLOY_ROLE_ARN`` per GitHub
environment (set from ``deployRoleArns[<env>]``) and ``AWS_PREVIEW_ROLE_ARN`` for the repository.
"""

DEPLOY_ROLE_ARNS = "deployRoleArns"
PREVIEW_ROLE_ARN = "previewRoleArn"
STATE_BACKEND_URL = "stateBackendUrl"
SECRETS_PROVIDER = "secretsProvider"
STATE_BUCKET = "stateBucket"
STATE_KEY_ARN = "stateKeyArn"
OIDC_PROVIDER_ARN = "oidcProviderArn"

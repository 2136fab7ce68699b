"""S3 server access logs that would never arrive, checked over the recorded graph.

S3 delivers a bucket's server access logs as the service principal ``logging.s3.amazonaws.com``.
For a target bucket with Object Ownership "bucket owner enforced" (every bucket of this program)
ACL grants do not work, so the target's bucket policy must allow that principal s3:PutObject
under the target prefix, for this source bucket (pulumi_aws ``s3.BucketLogging`` docstring,
"Grant permission by using bucket policy"; S3 User Guide, "Permissions for log delivery").
Nothing refuses a logging configuration whose target does not admit it: the logs simply never
arrive. For every ``aws:s3/bucketLogging:BucketLogging`` of the plan:

- the target bucket has a policy in the plan with an Allow of s3:PutObject for
  ``logging.s3.amazonaws.com`` whose Resource covers ``<target>/<prefix>`` and whose
  ``aws:SourceArn`` condition, if any, matches the source bucket;
- the logging configuration waits for that policy (a dependency), so no log is refused in between;
- the target bucket's default encryption is not SSE-KMS: "Default server-side encryption with AWS
  KMS keys (SSE-KMS) is not supported for server access logging target buckets" (S3 User Guide,
  "Troubleshoot server access logging").

    findings = check(plan.resources)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from fnmatch import fnmatchcase
from typing import Any

from notes_platform.checks.ordering import Finding, Graph
from notes_platform.graph.mocks import Recorded
from policies.notes_policies.common import as_list, document

BUCKET_LOGGING = "aws:s3/bucketLogging:BucketLogging"
BUCKET_POLICY = "aws:s3/bucketPolicy:BucketPolicy"
BUCKET_ENCRYPTION = "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration"
LOG_DELIVERY = "logging.s3.amazonaws.com"


def check(resources: Iterable[Recorded]) -> list[Finding]:
    """Every finding; an empty list means all is well."""
    graph = Graph(resources)
    policies = {str(p.inputs.get("bucket")): p for p in graph.of_type(BUCKET_POLICY)}
    encryption = {str(e.inputs.get("bucket")): e for e in graph.of_type(BUCKET_ENCRYPTION)}
    findings: list[Finding] = []
    for logging in graph.of_type(BUCKET_LOGGING):
        source, target = str(logging.inputs.get("bucket")), str(logging.inputs.get("targetBucket"))
        prefix = str(logging.inputs.get("targetPrefix") or "")
        algorithms = [
            str((rule.get("applyServerSideEncryptionByDefault") or {}).get("sseAlgorithm"))
            for rule in as_list(encryption[target].inputs.get("rules") if target in encryption else None)
            if isinstance(rule, Mapping)
        ]
        if any(a.startswith("aws:kms") for a in algorithms):
            findings.append(
                Finding(
                    logging.urn,
                    f"target bucket {target} defaults to SSE-KMS: S3 delivers access logs to none",
                )
            )
        policy = policies.get(target)
        if policy is None:
            findings.append(Finding(logging.urn, f"target bucket {target} has no bucket policy in the plan"))
            continue
        parsed = document(policy.inputs.get("policy"))
        if not isinstance(parsed, Mapping):
            continue  # an unknown policy: nothing to judge offline
        statements = [s for s in as_list(parsed.get("Statement")) if isinstance(s, Mapping)]
        if not any(_admits(s, target, prefix, source) for s in statements):
            findings.append(
                Finding(
                    logging.urn,
                    f"the policy of {target} must let {LOG_DELIVERY} s3:PutObject under {prefix!r} for "
                    f"arn:aws:s3:::{source}, or its access logs never arrive",
                )
            )
        if policy.urn not in graph.closure(logging.urn):
            message = f"may be created before {policy.urn}, which admits its logs"
            findings.append(Finding(logging.urn, message))
    return findings


def _admits(statement: Mapping[str, Any], target: str, prefix: str, source: str) -> bool:
    principal = statement.get("Principal")
    services = as_list(principal.get("Service")) if isinstance(principal, Mapping) else []
    actions = as_list(statement.get("Action"))
    if statement.get("Effect") != "Allow" or LOG_DELIVERY not in services:
        return False
    if not any(fnmatchcase("s3:PutObject", str(a)) for a in actions):
        return False
    key = f"arn:aws:s3:::{target}/{prefix}example.log"
    if not any(fnmatchcase(key, str(r)) for r in as_list(statement.get("Resource"))):
        return False
    conditions = statement.get("Condition") or {}
    for operator in ("ArnLike", "ArnEquals", "StringLike", "StringEquals"):
        wanted = (conditions.get(operator) or {}).get("aws:SourceArn")
        if wanted is not None and not any(
            fnmatchcase(f"arn:aws:s3:::{source}", str(w)) for w in as_list(wanted)
        ):
            return False
    return True

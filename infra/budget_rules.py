"""What AWS Budgets and Cost Anomaly Detection accept: the limits the budgets component
(``infra.budgets``) and the stack schema (``stacks.sections``, which must load without the Pulumi
SDKs) share.

- Budgets: "A budget can have up to five notifications, and each notification can have one SNS
  subscriber and up to 10 email subscribers" (botocore's budgets model, ``CreateBudget``'s
  NotificationsWithSubscribers).
- Cost Anomaly Detection: SNS subscribers take IMMEDIATE alerts, e-mail ones DAILY or WEEKLY
  (botocore's ce model, ``AnomalySubscription.Frequency``); threshold values are "numbers between
  0 and 10,000,000,000" (``ThresholdExpression``); a monitor's ARN is
  arn:aws:ce::<account>:anomalymonitor/<id> (AWS Cost Management User Guide, "Controlling access
  for Cost Anomaly Detection").
"""

from __future__ import annotations

import re

MAX_EMAIL_SUBSCRIBERS = 10
MAX_ANOMALY_THRESHOLD_USD = 10_000_000_000
ANOMALY_MONITOR_ARN = re.compile(r"^arn:aws[a-z-]*:ce::\d{12}:anomalymonitor/[A-Za-z0-9-]+$")


def email_subscribers_problem(count: int) -> str:
    """Why a budget notification could not carry ``count`` e-mail subscribers; "" if it can."""
    if count <= MAX_EMAIL_SUBSCRIBERS:
        return ""
    return (
        f"a budget notification takes at most {MAX_EMAIL_SUBSCRIBERS} e-mail subscribers ({count} given); "
        "the alarm topic reaches the rest"
    )

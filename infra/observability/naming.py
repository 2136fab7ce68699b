"""The environment name that the alarm topic, every alarm and the dashboard are named after
(``notes-<env>-...``); the topic's policy matches alarms by that prefix."""

from __future__ import annotations

import re

ENVIRONMENT = re.compile(r"^[a-z][a-z0-9-]*$")


def check_environment(environment: str) -> None:
    if not ENVIRONMENT.match(environment):
        raise ValueError(
            f"environment={environment!r}: lower-case letters, digits and '-' only; it names every alarm"
        )

"""Which image staging runs: its stack outputs, read through Pulumi's Automation API when a Pulumi
CLI is installed, or the file the staging job wrote (``records.StagingImage``).

The Automation API drives the CLI (``pulumi.automation.select_stack(stack_name, work_dir=...)``
selects an existing stack of the project in ``work_dir``; ``Stack.outputs()`` returns a mapping of
output name to ``OutputValue(value, secret)``: pulumi/automation/_local_workspace.py and
_stack.py in the SDK), so without a CLI on PATH there is nothing to ask and the file is the source.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from notes_platform.release.records import RecordError, StagingImage

# The stack's output names (stacks/outputs.py ECR_REPOSITORY_URL and IMAGE_DIGEST); repeated here
# so the command does not import the program to read two strings. A test keeps them equal.
REPOSITORY_OUTPUT = "ecrRepositoryUrl"
DIGEST_OUTPUT = "imageDigest"


class StagingSourceError(ValueError):
    """Neither a CLI nor a usable file says which image staging runs."""


def pulumi_cli() -> str | None:
    return shutil.which("pulumi")


def stack_outputs(stack: str, work_dir: Path) -> Mapping[str, Any]:
    """The stack's outputs through the Automation API; :class:`StagingSourceError` without a CLI."""
    if pulumi_cli() is None:
        raise StagingSourceError(
            f"no Pulumi CLI on PATH to read stack {stack!r}'s outputs: pass --staging-image FILE, "
            "the file the staging job writes"
        )
    from pulumi import automation  # noqa: PLC0415 (heavy, and only this path needs it)

    selected = automation.select_stack(stack_name=stack, work_dir=str(work_dir))
    return {name: output.value for name, output in selected.outputs().items()}


def staging_image_from_outputs(
    stack: str, outputs: Mapping[str, Any], now: datetime | None = None
) -> StagingImage:
    """The image named by a stack's outputs; the error names the stack and the missing output."""
    missing = [name for name in (REPOSITORY_OUTPUT, DIGEST_OUTPUT) if not isinstance(outputs.get(name), str)]
    if missing:
        raise StagingSourceError(
            f"stack {stack!r} has no {' or '.join(missing)} output: was it deployed with an image?"
        )
    try:
        return StagingImage(
            stack, outputs[REPOSITORY_OUTPUT], outputs[DIGEST_OUTPUT], now or datetime.now(UTC)
        )
    except RecordError as exc:
        raise StagingSourceError(f"stack {stack!r} output {exc}") from exc

"""A promotion, step by step: the three gates, the digest-preserving copy, the stack file edit.

Each refusal has its own exit code (:class:`Exit`), so a pipeline (and a person reading its log)
can tell "the image has a HIGH finding" from "the registry was unreachable" without parsing text.
The gates only read; ``dry_run`` stops after them and prints the copy and the diff it would make.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from enum import IntEnum
from pathlib import Path
from typing import Any

from notes_platform.release import allowlist, records, scan_gate, stack_file
from notes_platform.release.registry import ImageMissingError, RegistryError, Repository, Skopeo, promoted_tag


class Exit(IntEnum):
    """``notes-platform promote``'s exit codes (its --help and the README list the same)."""

    PROMOTED = 0
    BAD_INPUT = 2
    IMAGE_MISSING = 3
    SCAN_UNFINISHED = 4
    SCAN_FINDINGS = 5
    VERIFY_OTHER_IMAGE = 6
    VERIFY_FAILED = 7
    DIGEST_CHANGED = 8
    REGISTRY_ERROR = 9


EXIT_HELP = {
    Exit.PROMOTED: "promoted (or, with --dry-run, every gate passed)",
    Exit.BAD_INPUT: "bad input: an option, the staging image file, the verify record, the allow-list or the "
    "stack file is missing or malformed (the message names the file and key)",
    Exit.IMAGE_MISSING: "the digest is not in the source repository (on --rollback: not in the target's)",
    Exit.SCAN_UNFINISHED: "ECR has no finished scan of the image (pending, in progress, failed, unsupported)",
    Exit.SCAN_FINDINGS: "a CRITICAL or HIGH finding is not on the allow-list, or its entry has expired",
    Exit.VERIFY_OTHER_IMAGE: "the verify record is for another stack or another digest",
    Exit.VERIFY_FAILED: "staging's last verify of this digest failed",
    Exit.DIGEST_CHANGED: "after the copy the target's manifest digest differs from the source's",
    Exit.REGISTRY_ERROR: "skopeo is missing, or a registry or the ECR API refused or could not be reached",
}


class Refusal(Exception):
    def __init__(self, code: Exit, message: str) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Request:
    target_stack: str
    stack_file: Path
    digest: str
    target: Repository
    source_stack: str | None = None
    """None on a rollback: the digest is already in the target's repository."""
    source: Repository | None = None
    verify_record: Path | None = None
    allowlist: Path = allowlist.DEFAULT_PATH
    dry_run: bool = False
    today: date | None = None

    @property
    def rollback(self) -> bool:
        return self.source is None


def gate_image_exists(skopeo: Skopeo, repository: Repository, digest: str) -> str:
    try:
        found = skopeo.digest_of(f"{repository}@{digest}")
    except ImageMissingError as exc:
        raise Refusal(Exit.IMAGE_MISSING, f"{digest} is not in {repository}: {exc}") from exc
    if found != digest:  # a registry answering with another manifest than the one asked for
        raise Refusal(
            Exit.DIGEST_CHANGED, f"{repository}@{digest} answered with a manifest of digest {found}"
        )
    return f"image: {repository}@{digest} exists"


def gate_scan(ecr: Any, repository: Repository, digest: str, allowed_path: Path, today: date) -> list[str]:
    allowances = allowlist.load_allowlist(allowed_path)
    try:
        report = scan_gate.fetch_scan(ecr, repository.name, digest, repository.ecr_account)
    except scan_gate.ScanNotFoundError as exc:
        raise Refusal(Exit.SCAN_UNFINISHED, f"no ECR scan of {repository.name}@{digest}: {exc}") from exc
    verdict = scan_gate.judge(report, allowances, today)
    if not verdict.finished:
        raise Refusal(
            Exit.SCAN_UNFINISHED,
            f"ECR's scan of {repository.name}@{digest} is {report.status or 'absent'}"
            + (f" ({report.description})" if report.description else "")
            + ": wait for it to finish, or scan again",
        )
    if verdict.blocking:
        raise Refusal(
            Exit.SCAN_FINDINGS,
            f"ECR's scan of {repository.name}@{digest} has findings that block the promotion "
            f"(allow-list: {allowed_path}):\n" + "\n".join(f"  {line}" for line in verdict.blocking),
        )
    counts = ", ".join(f"{k} {v}" for k, v in sorted(report.counts.items())) or "no findings"
    return [f"scan: {report.status}, {counts}", *(f"  accepted: {line}" for line in verdict.accepted)]


def gate_verify(path: Path, stack: str, digest: str) -> str:
    record = records.read_verify_record(path)
    if record.stack != stack or record.digest != digest:
        raise Refusal(
            Exit.VERIFY_OTHER_IMAGE,
            f"{path}: the last verify is of stack {record.stack!r} running {record.digest}, not "
            f"{stack!r} running {digest}: verify {stack} after it runs this image",
        )
    if not record.passed:
        failed = "; ".join(f"{c.name}: {c.saw}" if c.saw else c.name for c in record.checks if not c.passed)
        raise Refusal(
            Exit.VERIFY_FAILED,
            f"{path}: {stack}'s verify of {digest} at {record.checked_at.isoformat()} failed"
            + (f" ({failed})" if failed else ""),
        )
    return f"verify: {stack} passed with {digest} at {record.checked_at.isoformat()}"


def copy_checked(skopeo: Skopeo, source: Repository, target: Repository, digest: str) -> str:
    """Copy by digest, then fetch the target's manifest by the tag just pushed and hash it."""
    try:
        skopeo.digest_of(f"{target}@{digest}")
    except ImageMissingError:
        pass
    else:
        return f"copy: {target}@{digest} already there, nothing copied"
    tagged = f"{target}:{promoted_tag(digest)}"
    skopeo.copy(f"{source}@{digest}", tagged)
    return check_copied(skopeo, tagged, digest)


def check_copied(skopeo: Skopeo, tagged: str, digest: str) -> str:
    try:
        found = skopeo.digest_of(tagged)
    except ImageMissingError as exc:
        raise Refusal(Exit.DIGEST_CHANGED, f"after the copy {tagged} is missing: {exc}") from exc
    if found != digest:
        raise Refusal(
            Exit.DIGEST_CHANGED,
            f"after the copy {tagged} has digest {found}, not {digest}: the copy rewrote the manifest; "
            "the stack file was not changed",
        )
    return f"copy: {tagged} has digest {digest}, unchanged"


def _gates(request: Request, skopeo: Skopeo, ecr: Any, say: Callable[[str], None]) -> None:
    if request.source is None:
        say(f"rollback of {request.target_stack} to {request.digest}")
        say(gate_image_exists(skopeo, request.target, request.digest))
        return
    if request.source_stack is None or request.verify_record is None:
        raise Refusal(Exit.BAD_INPUT, "a promotion needs the source stack and its verify record")
    say(f"promote {request.source_stack} -> {request.target_stack}: {request.digest}")
    say(gate_image_exists(skopeo, request.source, request.digest))
    today = request.today or date.today()  # the allow-list's dates are calendar days, not instants
    for line in gate_scan(ecr, request.source, request.digest, request.allowlist, today):
        say(line)
    say(gate_verify(request.verify_record, request.source_stack, request.digest))


def promote(request: Request, skopeo: Skopeo, ecr: Any, say: Callable[[str], None]) -> Exit:
    """Run the promotion (or the rollback) ``request`` describes; :class:`Refusal` on a gate."""
    # The stack file is judged first: a file that cannot take the digest stops before any copy.
    edit = stack_file.plan_digest_edit(request.stack_file, request.digest)
    _gates(request, skopeo, ecr, say)
    tagged = f"{request.target}:{promoted_tag(request.digest)}"
    if request.dry_run:
        if request.source is not None:
            say(
                f"would copy: skopeo copy --all --preserve-digests docker://{request.source}@{request.digest}"
            )
            say(f"            docker://{tagged}, then check the digest of {tagged}")
        say(
            f"would write {request.stack_file}:"
            if edit.changed
            else f"{request.stack_file}: already names it"
        )
        if edit.changed:
            say(edit.diff().rstrip("\n"))
        return Exit.PROMOTED
    if request.source is not None:
        say(copy_checked(skopeo, request.source, request.target, request.digest))
    if edit.changed:
        edit.write()
        say(f"wrote {request.stack_file}: {stack_file.DIGEST_KEY} {edit.previous or '(unset)'}")
        say(f"  -> {request.digest}")
    else:
        say(f"{request.stack_file}: already names {request.digest}")
    if edit.previous and edit.previous != request.digest:
        say("to roll back after a failed verify:")
        say(f"  notes-platform promote --to {request.target_stack} --rollback --digest {edit.previous}")
    return Exit.PROMOTED


INPUT_ERRORS = (
    records.RecordError,
    allowlist.AllowListError,
    stack_file.StackFileError,
)
TOOL_ERRORS = (RegistryError,)

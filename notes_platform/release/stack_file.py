"""Writing the promoted digest into a stack file (``Pulumi.prod.yaml``) and nothing else.

ruamel.yaml's round-trip mode keeps comments, key order, flow sequences and quoting; the edit is
then checked line by line against the original, and refused if anything besides the one
``imageDigest`` line differs, so a formatting quirk of the emitter can never slip a second change
into the file reviewers approve.
"""

from __future__ import annotations

import difflib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

PROJECT = "notes-platform"
DIGEST_KEY = f"{PROJECT}:imageDigest"
BUILD_KEY = f"{PROJECT}:imageBuild"


class StackFileError(ValueError):
    """The stack file cannot take the digest: the message names the file and the key."""


@dataclass(frozen=True)
class DigestEdit:
    path: Path
    before: str
    after: str
    previous: str | None
    """The digest the file named before, if any: what a rollback returns to."""

    @property
    def changed(self) -> bool:
        return self.before != self.after

    def diff(self) -> str:
        lines = difflib.unified_diff(
            self.before.splitlines(keepends=True),
            self.after.splitlines(keepends=True),
            fromfile=f"{self.path.name} (now)",
            tofile=f"{self.path.name} (promoted)",
            n=1,
        )
        return "".join(lines)

    def write(self) -> None:
        self.path.write_text(self.after)


def _round_trip() -> Any:
    from ruamel.yaml import YAML  # noqa: PLC0415 (only promote pays for it)

    yaml = YAML()  # round-trip ("rt") mode: comments and layout are part of the loaded document
    yaml.preserve_quotes = True
    yaml.width = 4096  # never re-wrap a long line the file already has
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def load(path: Path) -> Any:
    """The stack file's ``config:`` mapping (a ruamel ``CommentedMap``)."""
    from ruamel.yaml.error import YAMLError  # noqa: PLC0415

    try:
        document = _round_trip().load(path.read_text())
    except FileNotFoundError as exc:
        raise StackFileError(f"{path}: no such file") from exc
    except YAMLError as exc:
        raise StackFileError(f"{path}: not YAML ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("config"), dict):
        raise StackFileError(f"{path}: config: expected a mapping of stack settings")
    return document


def config_value(path: Path, key: str) -> Any:
    return load(path)["config"].get(key)


def plan_digest_edit(path: Path, digest: str) -> DigestEdit:
    """The file with ``imageDigest`` set to ``digest``: the one line replaced, or added after
    ``imageBuild`` (or at the end of ``config:``) when absent."""
    before = path.read_text() if path.exists() else ""
    document = load(path)
    config = document["config"]
    if config.get(BUILD_KEY) is not False:
        # Unset means the schema's default (stacks/sections.py: build=True): the stack builds its own.
        found = "not set (so true)" if BUILD_KEY not in config else repr(config[BUILD_KEY])
        raise StackFileError(
            f"{path}: {BUILD_KEY}: is {found}: only a stack that deploys a promoted digest "
            "(imageBuild: false) takes one"
        )
    previous = config.get(DIGEST_KEY)
    if previous is not None and not isinstance(previous, str):
        raise StackFileError(f"{path}: {DIGEST_KEY}: expected a string, found {previous!r}")
    present = DIGEST_KEY in config
    if present:
        config[DIGEST_KEY] = digest
    else:
        keys = list(config)
        anchor = keys.index(BUILD_KEY)
        config.insert(anchor + 1, DIGEST_KEY, digest)
        # ruamel keeps the blank line and comment that follow a key on that key; move them to the
        # new key, which now comes last in the group, or they would end up above it.
        if BUILD_KEY in config.ca.items:
            config.ca.items[DIGEST_KEY] = config.ca.items.pop(BUILD_KEY)
    out = io.StringIO()
    _round_trip().dump(document, out)
    edit = DigestEdit(path, before, out.getvalue(), previous)
    _only_the_digest_line(edit, added=not present)
    return edit


def _only_the_digest_line(edit: DigestEdit, *, added: bool) -> None:
    before, after = edit.before.splitlines(), edit.after.splitlines()
    opcodes = [
        op
        for op in difflib.SequenceMatcher(a=before, b=after, autojunk=False).get_opcodes()
        if op[0] != "equal"
    ]
    expected = "insert" if added else "replace"
    ok = not opcodes or (
        len(opcodes) == 1
        and opcodes[0][0] == expected
        and opcodes[0][4] - opcodes[0][3] == 1
        and (added or opcodes[0][2] - opcodes[0][1] == 1)
        and after[opcodes[0][3]].strip().startswith(f"{DIGEST_KEY}:")
    )
    if not ok:
        raise StackFileError(
            f"{edit.path}: writing {DIGEST_KEY} would change more than its own line; "
            f"edit it by hand:\n{edit.diff()}"
        )

"""Writing the digest into the stack file: one line changes (or one is added), nothing else."""

from __future__ import annotations

import difflib
import shutil
from pathlib import Path

import pytest

from notes_platform.release.stack_file import DIGEST_KEY, StackFileError, plan_digest_edit
from stacks.config import ROOT

NEW = "sha256:" + "7a" * 32
COMMITTED = (
    "  notes-platform:imageDigest: sha256:4f1c1d2c3b4a5968778695a4b3c2d1e0f9e8d7c6b5a4938271605f4e3d2c1b0a\n"
)


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.fixture
def prod_file(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.prod.yaml", tmp_path / "Pulumi.prod.yaml")
    return tmp_path / "Pulumi.prod.yaml"


def test_writing_the_digest_changes_exactly_its_line(prod_file: Path) -> None:
    # GIVEN the committed prod stack file
    before = prod_file.read_text()
    # WHEN a new digest is written
    edit = plan_digest_edit(prod_file, NEW)
    edit.write()
    # THEN exactly one line differs: the digest's, and the previous digest is reported
    assert _changed_lines(before, prod_file.read_text()) == [
        f"-{COMMITTED.rstrip()}",
        f"+  {DIGEST_KEY}: {NEW}",
    ]
    assert edit.previous == COMMITTED.split(": ")[1].strip()


def test_an_absent_digest_is_added_as_one_line_after_image_build(prod_file: Path) -> None:
    # GIVEN prod's file before its first promotion (no imageDigest line)
    prod_file.write_text(prod_file.read_text().replace(COMMITTED, ""))
    before = prod_file.read_text()
    # WHEN the digest is written
    edit = plan_digest_edit(prod_file, NEW)
    edit.write()
    after = prod_file.read_text()
    # THEN one line is added, right after imageBuild, and the blank line stays below it
    assert _changed_lines(before, after) == [f"+  {DIGEST_KEY}: {NEW}"]
    assert f"  notes-platform:imageBuild: false\n  {DIGEST_KEY}: {NEW}\n\n" in after
    assert edit.previous is None


def test_writing_the_same_digest_changes_nothing(prod_file: Path) -> None:
    digest = COMMITTED.split(": ")[1].strip()
    assert not plan_digest_edit(prod_file, digest).changed


def test_a_stack_that_builds_its_own_image_is_refused(tmp_path: Path) -> None:
    shutil.copy(ROOT / "Pulumi.staging.yaml", tmp_path / "Pulumi.staging.yaml")
    with pytest.raises(
        StackFileError, match=r"Pulumi.staging.yaml: notes-platform:imageBuild: is not set \(so true\)"
    ):
        plan_digest_edit(tmp_path / "Pulumi.staging.yaml", NEW)


def test_an_edit_that_would_reformat_another_line_is_refused(prod_file: Path) -> None:
    # GIVEN a file with a line the emitter would rewrite (planted: a flow list without spaces)
    text = prod_file.read_text().replace(
        "[eu-west-1a, eu-west-1b, eu-west-1c]", "[eu-west-1a,eu-west-1b,eu-west-1c]"
    )
    prod_file.write_text(text)
    # WHEN the digest is written THEN nothing is written and the error shows the diff it refused
    with pytest.raises(StackFileError) as exc:
        plan_digest_edit(prod_file, NEW)
    assert "would change more than its own line" in str(exc.value)
    assert "eu-west-1a,eu-west-1b" in str(exc.value)
    assert prod_file.read_text() == text


@pytest.mark.parametrize(
    ("content", "expected"),
    [("config: [1]\n", "config: expected a mapping"), ("config: {a: [}\n", "not YAML")],
)
def test_a_malformed_stack_file_is_refused(tmp_path: Path, content: str, expected: str) -> None:
    (tmp_path / "Pulumi.prod.yaml").write_text(content)
    with pytest.raises(StackFileError, match=expected):
        plan_digest_edit(tmp_path / "Pulumi.prod.yaml", NEW)

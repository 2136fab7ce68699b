"""`notes-platform review` and `diff` on real `pulumi preview --json` captures and on changes to our
own plans: what the CLI really writes is read, secrets never print, and the exit code says it all."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from notes_platform.cli import main
from notes_platform.review.outcome import CHANGES, NEEDS_APPROVAL, NO_CHANGES, UNREADABLE
from notes_platform.review.preview import UNKNOWN, parse_preview
from notes_platform.review.rules import review
from tests.notes_platform.review import scenarios as s

CAPTURES = s.FIXTURES
# Plain-text values the captures carry in their old states' outputs (a random string's result).
PLAIN_RANDOM_RESULT = "NmO$?6)J-wwX2DM1Os&ZKN!173xdU4EZ"


def _review(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["review", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def _write(tmp_path: Path, name: str, document: Any) -> str:
    path = tmp_path / name
    path.write_text(json.dumps(document))
    return str(path)


def test_real_aws_capture_a_security_group_widened_is_approval_and_a_narrowed_policy_is_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN a real AWS preview: a group replaced with a new port-80 source, a role's policy narrowed
    # WHEN it is reviewed, also as Markdown
    comment = tmp_path / "comment.md"
    code, out, _ = _review(capsys, str(CAPTURES / "aws_tags_and_sets.json"), "--markdown", str(comment))
    # THEN it needs approval for the group only, and the comment carries the marker
    assert code == NEEDS_APPROVAL
    assert "new ingress: cidrIpv4=10.0.0.0/8 port 80" in out
    assert "policy-broadened" not in out
    assert comment.read_text().startswith("<!-- notes-platform-review -->\n")


@pytest.mark.parametrize("capture", ["small_scale_10_replace.json", "standard_json_replace.json"])
def test_real_captures_of_non_aws_changes_are_changes_with_nothing_risky(
    capsys: pytest.CaptureFixture[str], capture: str
) -> None:
    # GIVEN real previews (same/create/update/replace/delete, detailedDiff null, [secret], no
    # changeSummary) / WHEN reviewed / THEN changes, none risky, and counted by op and type
    code, out, _ = _review(capsys, str(CAPTURES / capture))
    assert code == CHANGES
    assert "replace  tls:index/privateKey:PrivateKey" in out


def test_secret_values_never_print_even_in_plain_text_in_a_state(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN a capture whose old state holds a random string's value in plain text, and a preview
    # of prod where a plain-text password sits in oldState next to "[secret]" in newState, a
    # secret-looking variable in the container definitions, and an origin header value
    old, new = s.edited(s.more_workers)
    s.resource(old, "prod-docdb-cluster")["inputs"]["masterPassword"] = "pl4in-old-password"
    s.resource(new, "prod-docdb-cluster")["inputs"]["masterUsername"] = "notesadmin2"
    definitions = s.containers(new)
    definitions[0]["environment"].append({"name": "NOTES_DB_PASSWORD", "value": "pl4in-env-password"})
    s.set_containers(new, definitions)
    s.inputs(old, "prod-alb-https-origin")["conditions"][0]["httpHeader"]["values"] = ["pl4in-origin"]
    s.inputs(new, "prod-alb-https-origin")["conditions"] = [{"pathPattern": {"values": ["/*"]}}]
    from notes_platform.review.synth import preview_document  # noqa: PLC0415

    planted = _write(tmp_path, "planted.json", preview_document(old, new))
    comment = tmp_path / "comment.md"
    # WHEN both are reviewed, to the terminal and as Markdown
    code, out, err = _review(
        capsys, str(CAPTURES / "small_scale_10_replace.json"), planted, "--markdown", str(comment)
    )
    # THEN the review ran and named the changes, and no planted value appears anywhere
    assert code == NEEDS_APPROVAL
    assert "NOTES_DB_PASSWORD: [secret] (added)" in out
    for text in (out, err, comment.read_text()):
        for value in (PLAIN_RANDOM_RESULT, "pl4in-old-password", "pl4in-env-password", "pl4in-origin"):
            assert value not in text


def test_replacement_steps_fold_into_one_replace_with_its_reason() -> None:
    # GIVEN a replace shown with --show-replacement-steps (create-replacement, replace, delete-replaced)
    document = s.preview(lambda plan: s.inputs(plan, "prod-docdb-cluster").update(kmsKeyId="arn:other"))
    (step,) = document["steps"]
    split = [
        {**step, "op": "create-replacement", "oldState": None},
        step,
        {**step, "op": "delete-replaced", "newState": None},
    ]
    # WHEN it is read / THEN one replace step, the approval names the reason
    change = parse_preview({"steps": split}, "split.json")
    assert [x.op for x in change.steps] == ["replace"]
    (finding,) = [f for f in review(change.steps) if f.rule == "replace-stateful"]
    assert "why (replaceReasons): kmsKeyId" in finding.details


def test_unknown_values_show_as_known_after_apply(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # GIVEN an alarm threshold the provider computes during apply
    document = s.preview(
        lambda plan: s.inputs(plan, "prod-data-alarms-docdb-1-connections").update(threshold=UNKNOWN)
    )
    # WHEN reviewed / THEN the sentinel never prints
    code, out, _ = _review(capsys, _write(tmp_path, "unknown.json", document))
    assert code == CHANGES
    assert "threshold: 1360 -> (known after apply)" in out and UNKNOWN not in out


def test_only_same_steps_exit_0(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # GIVEN the real capture reduced to its same steps (the CLI's "no changes")
    document = json.loads((CAPTURES / "small_scale_10_replace.json").read_text())
    document["steps"] = [x for x in document["steps"] if x["op"] == "same"]
    code, out, _ = _review(capsys, _write(tmp_path, "same.json", document))
    assert code == NO_CHANGES and "no changes" in out


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "No such file or directory"),
        ("", "the file is empty"),
        ('{"steps": [', "not JSON: Expecting value at line 1 column 12"),
        ("[]", "expected a JSON object"),
        ('{"steps": [{"op": "explode", "urn": "u"}]}', "steps[0] (u): unknown op 'explode'"),
        ('{"resources": []}', "not the output of `pulumi preview --json` (this looks like a plan graph"),
    ],
)
def test_unreadable_input_exits_1_naming_the_file_and_the_problem(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, content: str | None, message: str
) -> None:
    # GIVEN a file that is missing, empty, broken or not a preview
    path = tmp_path / "preview.json"
    if content is not None:
        path.write_text(content)
    # WHEN reviewed / THEN exit 1, the message names the file and what was wrong, stdout is empty
    code, out, err = _review(capsys, str(path))
    assert code == UNREADABLE and out == ""
    assert f"{path}: " in err and message in err, err


def test_stack_output_is_not_a_preview(capsys: pytest.CaptureFixture[str]) -> None:
    path = CAPTURES / "stack_output_with_secret.json"
    code, _, err = _review(capsys, str(path))
    assert code == UNREADABLE and f"{path}: no `steps` list" in err


def test_a_usage_error_is_argparse_s_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["review"])
    assert exc.value.code == 2


def test_help_documents_the_exit_codes(capsys: pytest.CaptureFixture[str]) -> None:
    for command in ("review", "diff"):
        with pytest.raises(SystemExit):
            main([command, "--help"])
        out = capsys.readouterr().out
        assert "exit codes:" in out and "4  at least one change needs explicit approval" in out


def test_diff_of_two_plans_decides_replacement_from_the_force_new_table(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # GIVEN the prod plan and a copy whose DocumentDB key changed (a plan has no replaceReasons)
    old, new = s.edited(lambda plan: s.inputs(plan, "prod-docdb-cluster").update(kmsKeyId="arn:other"))
    # WHEN the two plans are diffed
    code = main(["diff", _write(tmp_path, "old.json", old), _write(tmp_path, "new.json", new)])
    out = capsys.readouterr().out
    # THEN the replacement and its reason come from terraform-provider-aws's schema
    assert code == NEEDS_APPROVAL
    assert "why (force-new table, internal/service/docdb/cluster.go" in out and "): kmsKeyId" in out


def test_diff_of_a_plan_with_itself_exits_0(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["diff", str(s.SNAPSHOT), str(s.SNAPSHOT), "--quiet"]) == NO_CHANGES
    assert capsys.readouterr().out == ""


def test_diff_refuses_a_preview_naming_the_file(capsys: pytest.CaptureFixture[str]) -> None:
    preview = CAPTURES / "aws_tags_and_sets.json"
    assert main(["diff", str(s.SNAPSHOT), str(preview)]) == UNREADABLE
    err = capsys.readouterr().err
    assert f"{preview}: no `resources` list" in err and "use `notes-platform review`" in err


def test_a_deleted_resource_in_a_plan_diff_keeps_its_protection_state() -> None:
    # GIVEN the cache deleted between two plans / WHEN diffed / THEN approval with protect on
    from notes_platform.review.plans import steps_between  # noqa: PLC0415

    old = {r["urn"]: r for r in s.prod_plan()["resources"]}
    new = copy.deepcopy(old)
    del new[next(u for u in new if u.endswith("::prod-redis-group"))]
    steps, _ = steps_between(old, new)
    (finding,) = [f for f in review(steps) if f.rule == "delete-stateful"]
    assert "state: protect on" in finding.details

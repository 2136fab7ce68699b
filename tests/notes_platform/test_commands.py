"""The command table: every subcommand is one module, imported only when it runs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from notes_platform.cli import COMMANDS, build_parser, main
from notes_platform.commands.config import project_config_block
from stacks.config import ROOT

# What the tooling pays for only when a command runs, never for the table or for --help.
HEAVY = ("pulumi", "pulumi_aws", "pulumi_policy", "pydantic", "botocore", "yaml", "stacks", "infra")

_PROBE = """
import contextlib, io, json, sys
from notes_platform.cli import main
with contextlib.redirect_stdout(io.StringIO()) as out:
    try:
        main(json.loads(sys.argv[1]))
    except SystemExit:
        pass
print(json.dumps({"help": out.getvalue(), "modules": sorted(sys.modules)}))
"""


def _help_in_fresh_process(*argv: str) -> tuple[str, list[str]]:
    result = subprocess.run(
        [sys.executable, "-c", _PROBE, json.dumps(list(argv))],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    answer = json.loads(result.stdout)
    return answer["help"], answer["modules"]


@pytest.mark.parametrize("argv", [["--help"], *[[name, "--help"] for name in COMMANDS]])
def test_help_loads_no_sdk_schema_or_program(argv: list[str]) -> None:
    # WHEN the top-level or a command's --help runs in a fresh interpreter
    text, modules = _help_in_fresh_process(*argv)
    # THEN it answers, and nothing heavy was imported to do so
    assert "usage: notes-platform" in text
    loaded = sorted({m.split(".")[0] for m in modules} & set(HEAVY))
    assert loaded == [], f"`notes-platform {' '.join(argv)}` imported {loaded}"


def test_top_level_help_lists_every_command_with_its_line() -> None:
    text, _ = _help_in_fresh_process("--help")
    words = " ".join(text.split())  # argparse wraps long lines
    for name, line in COMMANDS.items():
        assert f"{name} {line}" in words


def test_each_command_in_the_table_is_a_module_with_its_entry_points() -> None:
    # GIVEN each entry of the table
    for name in COMMANDS:
        module = __import__(f"notes_platform.commands.{name.replace('-', '_')}", fromlist=["run"])
        # THEN its module exists with the two entry points the table calls
        assert callable(module.add_arguments) and callable(module.run), name


def test_only_the_chosen_command_gets_its_arguments() -> None:
    # WHEN the parser is built for `plan`
    parser = build_parser(["plan", "staging"])
    # THEN plan parses its own options, and config, not chosen, has none of its own
    assert parser.parse_args(["plan", "staging", "--quiet"]).quiet is True
    with pytest.raises(SystemExit):
        parser.parse_args(["config", "--write"])


def test_an_unknown_command_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["deploy"])
    assert exc.value.code == 2
    assert "invalid choice: 'deploy'" in capsys.readouterr().err


def _project(tmp_path: Path) -> Path:
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    return tmp_path


def test_config_check_passes_on_the_committed_project(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--check"]) == 0
    assert f"{len(project_config_block())} config declarations, in step" in capsys.readouterr().out


def test_config_check_fails_naming_the_drifted_keys(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # GIVEN a project file whose declaration of one key drifted and which declares a stale key
    project = _project(tmp_path)
    document = yaml.safe_load((project / "Pulumi.yaml").read_text())
    document["config"]["docdbInstanceCount"]["type"] = "string"
    document["config"]["docdbRemovedKey"] = {"type": "string", "description": "gone"}
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    # WHEN it is checked
    code = main(["config", "--check", "--project-dir", str(project)])
    # THEN it fails and names both keys and the fix
    err = capsys.readouterr().err
    assert code == 1
    assert "docdbInstanceCount" in err and "docdbRemovedKey" in err
    assert "notes-platform config --write" in err


@pytest.mark.parametrize(
    ("key", "value", "expected"),
    [
        (None, None, "Pulumi.qa.yaml: Stack 'qa' is missing configuration value docdbInstanceClass"),
        (
            "docdbInstanceCount",
            "three",
            "Pulumi.qa.yaml: Stack 'qa' with configuration key 'docdbInstanceCount' "
            "must be of type 'integer'",
        ),
    ],
)
def test_config_check_fails_on_a_stack_file_the_cli_would_refuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], key: str | None, value: str | None, expected: str
) -> None:
    # GIVEN the committed project file in step with the schema, beside a stack file the CLI
    # would refuse (a required key left out, or a value of the wrong type)
    project = _project(tmp_path)
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    del document["config"]["notes-platform:docdbInstanceClass"]
    if key is not None:
        document["config"]["notes-platform:docdbInstanceClass"] = "db.t4g.medium"
        document["config"][f"notes-platform:{key}"] = value
    (project / "Pulumi.qa.yaml").write_text(yaml.safe_dump(document))
    # WHEN the project is checked
    code = main(["config", "--check", "--project-dir", str(project)])
    # THEN it fails naming the stack file and the key
    captured = capsys.readouterr()
    assert code == 1
    assert "in step with the schema" in captured.out
    assert expected in captured.err.splitlines(), captured.err


def test_config_check_judges_every_committed_stack_file(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "--check"]) == 0
    out = capsys.readouterr().out
    stacks = sorted(p.name for p in ROOT.glob("Pulumi.*.yaml"))
    assert f"the Pulumi CLI's project-config rules accept {', '.join(stacks)}" in out, out


def test_config_write_restores_the_block_and_keeps_the_rest_of_the_file(tmp_path: Path) -> None:
    # GIVEN a project file with its config block removed
    project = _project(tmp_path)
    document = yaml.safe_load((project / "Pulumi.yaml").read_text())
    committed_block = document.pop("config")
    (project / "Pulumi.yaml").write_text(yaml.safe_dump(document, sort_keys=False))
    # WHEN the block is written
    assert main(["config", "--write", "--project-dir", str(project)]) == 0
    # THEN the file has the schema's block again, the same as committed, and the other keys unchanged
    written = yaml.safe_load((project / "Pulumi.yaml").read_text())
    assert written["config"] == project_config_block() == committed_block
    assert {k: v for k, v in written.items() if k != "config"} == document
    # AND the committed file is exactly what --write produces
    assert (project / "Pulumi.yaml").read_text() == (ROOT / "Pulumi.yaml").read_text()


def test_config_needs_write_or_check() -> None:
    with pytest.raises(SystemExit) as exc:
        main(["config"])
    assert exc.value.code == 2

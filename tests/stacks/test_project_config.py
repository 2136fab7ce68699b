"""The Pulumi CLI's project-config rules, applied offline to Pulumi.yaml and every stack file.

The rules (``notes_platform.commands.config``: ``project_problems``, ``stack_problems``) follow
pulumi/pulumi sdk/go/common/workspace/config.go (``mergeConfig``: a declared key of the
project's namespace with no ``default`` is required; ``validateStackConfigValues``: values of
the declared type) and project.go (``Project.Validate``, ``ValidateConfigValue``: defaults of
the declared type, arrays with ``items``). ``notes-platform config --check`` runs the same
rules in CI.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import Field

from notes_platform.commands.config import (
    cli_problems,
    optional_keys,
    project_config_block,
    project_problems,
    read_project,
    read_stack_values,
    stack_problems,
)
from notes_platform.graph.plan import engine_config
from stacks.config import PROJECT, ROOT, SECTIONS, key_table, load, read_stack_file
from stacks.sections import Section

STACK_FILES = sorted(p.name for p in ROOT.glob("Pulumi.*.yaml"))


def _stack_values(tmp_path: Path, text: str) -> dict[str, Any]:
    path = tmp_path / "Pulumi.qa.yaml"
    path.write_text(text)
    return read_stack_values(path)


def _planted(tmp_path: Path, source: str, change: dict[str, str | None]) -> dict[str, Any]:
    """A committed stack file with lines replaced (``key: yaml text``) or removed (None)."""
    lines = []
    for line in (ROOT / source).read_text().splitlines():
        key = line.strip().partition(":")[2].partition(":")[0]
        if line.strip().startswith(f"{PROJECT}:") and key in change:
            replacement = change[key]
            if replacement is not None:
                lines.append(f"  {PROJECT}:{key}: {replacement}")
            continue
        lines.append(line)
    return _stack_values(tmp_path, "\n".join(lines) + "\n")


def test_the_cli_accepts_the_committed_project_file() -> None:
    # GIVEN Pulumi.yaml as committed
    name, block = read_project(ROOT / "Pulumi.yaml")
    # WHEN the CLI's load-time rules judge its config block
    problems = project_problems(name, block)
    # THEN every declaration is valid: known types, arrays with items, defaults of their type
    assert name == PROJECT
    assert problems == [], problems


@pytest.mark.parametrize("stack_file", STACK_FILES)
def test_the_cli_accepts_every_committed_stack_file(stack_file: str) -> None:
    # GIVEN the committed project declarations and one committed stack file
    name, block = read_project(ROOT / "Pulumi.yaml")
    stack = stack_file.removeprefix("Pulumi.").removesuffix(".yaml")
    # WHEN the CLI's rules judge the stack's values
    problems = stack_problems(name, stack, block, read_stack_values(ROOT / stack_file))
    # THEN no required key is missing and every value has its declared type
    assert problems == [], f"{stack_file}: {problems}"


def test_every_schema_default_is_declared_and_optional_keys_are_left_out() -> None:
    # GIVEN the schema and the generated block
    block = project_config_block()
    table = key_table()
    # THEN each key with a default declares it, so the CLI does not require it ...
    for key, (section, field) in table.items():
        info = SECTIONS[section].model_fields[field]
        if key in optional_keys():
            # ... and a key whose default is None is not declared at all: declared without a
            # default, the CLI would require it in every stack file
            assert key not in block, f"{key}: optional, must stay undeclared"
        elif not info.is_required():
            assert "default" in block[key], f"{key}: has a schema default, declares none"
        else:
            assert "default" not in block[key], f"{key}: required by the schema, declares a default"
    assert {"imageDigest", "edgeOriginSecretPreviousGeneration"} <= set(optional_keys())


def test_a_default_the_cli_applies_is_the_value_the_schema_would_have_used() -> None:
    # GIVEN staging without any key that has a default (the schema fills them in)
    block = project_config_block()
    values = {
        k: v
        for k, v in read_stack_file("staging").items()
        if "default" not in block.get(k.split(":")[-1], {})
    }
    by_schema = load(values, "staging")
    # WHEN the CLI fills them in from Pulumi.yaml instead, as strings the way the engine passes them
    applied = {f"{PROJECT}:{k}": d["default"] for k, d in block.items() if "default" in d}
    by_cli = load({**engine_config(values), **engine_config(applied)}, "staging")
    # THEN the program sees the same configuration either way
    assert by_cli == by_schema


def test_a_stack_file_without_a_required_key_is_refused(tmp_path: Path) -> None:
    # GIVEN staging with a key that has no default removed
    name, block = read_project(ROOT / "Pulumi.yaml")
    values = _planted(tmp_path, "Pulumi.staging.yaml", {"docdbInstanceClass": None})
    # WHEN the CLI's rules judge it
    problems = stack_problems(name, "staging", block, values)
    # THEN the stack is refused, naming the key, as `pulumi up` would
    assert problems == ["Stack 'staging' is missing configuration value docdbInstanceClass"], problems


def test_an_optional_key_declared_without_a_default_would_be_required() -> None:
    # GIVEN a project block that declares imageDigest with its type but no default
    name, block = read_project(ROOT / "Pulumi.yaml")
    planted = {**block, "imageDigest": {"type": "string", "description": "digest"}}
    # WHEN staging, which builds and so sets no digest, is judged
    problems = stack_problems(name, "staging", planted, read_stack_values(ROOT / "Pulumi.staging.yaml"))
    # THEN the CLI would refuse it: this is why optional keys stay undeclared
    assert problems == ["Stack 'staging' is missing configuration value imageDigest"], problems


def test_keys_the_project_does_not_declare_are_accepted(tmp_path: Path) -> None:
    # GIVEN a stack file that sets an optional (undeclared) key
    name, block = read_project(ROOT / "Pulumi.yaml")
    values = _planted(tmp_path, "Pulumi.staging.yaml", {"edgeOriginSecretGeneration": "2"})
    values[f"{PROJECT}:edgeOriginSecretPreviousGeneration"] = "1"
    # THEN the CLI does not look at it (the schema does)
    assert "edgeOriginSecretPreviousGeneration" not in block
    assert stack_problems(name, "staging", block, values) == []


@pytest.mark.parametrize(
    ("key", "text", "expected_type"),
    [
        ("docdbInstanceCount", "three", "integer"),
        ("docdbInstanceCount", "2.5", "integer"),
        # PyYAML reads `yes` as true (YAML 1.1); the CLI keeps the text and wants true/false.
        ("docdbProtect", "yes", "boolean"),
        ("edgeAliases", "api.staging.notes.example.com", "array<string>"),
        ("edgeAliases", "[1]", "array<string>"),
        ("networkInterfaceEndpoints", "[logs, [ecr.api]]", "array<string>"),
    ],
)
def test_a_value_of_the_wrong_type_is_refused(
    tmp_path: Path, key: str, text: str, expected_type: str
) -> None:
    # GIVEN staging with one value of the wrong type
    name, block = read_project(ROOT / "Pulumi.yaml")
    values = _planted(tmp_path, "Pulumi.staging.yaml", {key: text})
    assert f"{PROJECT}:{key}" in values, f"{key}: not planted"
    # WHEN the CLI's rules judge it
    problems = stack_problems(name, "staging", block, values)
    # THEN the stack is refused naming the key and its declared type
    assert problems == [
        f"Stack 'staging' with configuration key '{key}' must be of type '{expected_type}'"
    ], problems


@pytest.mark.parametrize(
    ("key", "text"),
    [
        ("docdbInstanceCount", "'3'"),
        ("docdbInstanceCount", "+3"),
        ("docdbProtect", "'false'"),
        ("owner", "42"),
    ],
)
def test_scalars_are_judged_by_their_text(tmp_path: Path, key: str, text: str) -> None:
    # GIVEN values the CLI stores as text (config.Value keeps scalars as strings)
    name, block = read_project(ROOT / "Pulumi.yaml")
    values = _planted(tmp_path, "Pulumi.staging.yaml", {key: text})
    # THEN quoted numbers and booleans and unquoted numbers for strings all pass its check
    assert stack_problems(name, "staging", block, values) == []


@pytest.mark.parametrize(
    ("declaration", "words"),
    [
        ({"type": "integer", "default": "ninety"}, "default 'ninety' is not of the expected type 'integer'"),
        ({"type": "integer", "default": True}, "is not of the expected type 'integer'"),
        ({"type": "boolean", "default": "yes"}, "is not of the expected type 'boolean'"),
        ({"type": "string", "default": 7}, "is not of the expected type 'string'"),
        (
            {"type": "array", "items": {"type": "string"}, "default": [1]},
            "is not of the expected type 'array<string>'",
        ),
        ({"type": "array", "items": {"type": "string"}, "default": "a"}, "expected type 'array<string>'"),
        ({"type": "array", "default": []}, "declares an array but not its 'items'"),
        ({"type": "number", "default": 1.5}, "type 'number' is not one of"),
        ({"type": "string", "required": True}, "attributes ['required'] are not allowed"),
        ({"type": "string", "default": "a", "value": "b"}, "cannot have both a 'default' and 'value'"),
    ],
)
def test_a_declaration_the_cli_refuses_is_found(declaration: dict[str, Any], words: str) -> None:
    # GIVEN the committed block with one planted declaration
    name, block = read_project(ROOT / "Pulumi.yaml")
    # WHEN the CLI's load-time rules judge it
    problems = project_problems(name, {**block, "plantedKey": declaration})
    # THEN exactly that declaration is refused
    assert len(problems) == 1 and problems[0].startswith("plantedKey: ") and words in problems[0], problems


def test_a_provider_key_may_only_carry_a_value() -> None:
    problems = project_problems(PROJECT, {"aws:region": {"type": "string", "default": "eu-west-1"}})
    assert problems == ["aws:region: not namespaced by the project: declare only a 'value'"]


def test_yaml_as_the_cli_reads_it(tmp_path: Path) -> None:
    # GIVEN a stack file with scalars and a list of mixed items
    values = _stack_values(
        tmp_path, "config:\n  p:a: 3\n  p:b: yes\n  p:c: '7'\n  p:d: [1, 'x', true, null]\n  p:e:\n"
    )
    # THEN scalars are their text and a list is JSON decoded (numbers as floats)
    assert values == {"p:a": "3", "p:b": "yes", "p:c": "7", "p:d": [1.0, "x", True, None], "p:e": ""}


class _Added(Section):
    sizes: list[int] = Field(default_factory=lambda: [1, 2], description="a list of integers")
    ratio: float = Field(0.5, description="a float, declared as text")
    mode: str = Field("fast", description="a plain string")
    secret_hint: int | None = Field(None, description="optional")


def test_a_field_added_later_is_declared_in_a_form_the_cli_accepts(monkeypatch: pytest.MonkeyPatch) -> None:
    # GIVEN a section added to the schema with fields of other shapes
    monkeypatch.setitem(SECTIONS, "added", _Added)
    # WHEN the block is generated
    block = project_config_block()
    # THEN each field is declared with a default of its declared type, the optional one is left out
    assert block["addedSizes"] == {
        "type": "array",
        "items": {"type": "integer"},
        "description": "a list of integers",
        "default": [1, 2],
    }
    assert block["addedRatio"]["type"] == "string" and block["addedRatio"]["default"] == "0.5"
    assert "addedSecretHint" not in block
    assert project_problems(PROJECT, block) == []


def test_the_whole_project_directory_is_judged(tmp_path: Path) -> None:
    # GIVEN a project directory with the committed project file and a stack missing a key
    (tmp_path / "Pulumi.yaml").write_text((ROOT / "Pulumi.yaml").read_text())
    document = yaml.safe_load((ROOT / "Pulumi.staging.yaml").read_text())
    del document["config"][f"{PROJECT}:owner"]
    (tmp_path / "Pulumi.qa.yaml").write_text(yaml.safe_dump(document))
    # THEN the refusal names the file and the key
    assert cli_problems(tmp_path) == ["Pulumi.qa.yaml: Stack 'qa' is missing configuration value owner"]

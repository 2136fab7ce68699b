"""``notes-platform config --write | --check``: Pulumi.yaml's ``config:`` block, from the schema.

The stack schema (``stacks/config.py``) is the one description of every key; Pulumi.yaml
declares the same keys so that the CLI knows their types and defaults and shows their
descriptions. ``--write`` regenerates the block (the rest of the file is kept); ``--check``
exits 1 when the committed block has drifted from the schema, or when the Pulumi CLI would
refuse the project file or any committed ``Pulumi.<stack>.yaml`` (``cli_problems``).

What the CLI does with the block (pulumi/pulumi, sdk/go/common/workspace/config.go
``mergeConfig`` and ``validateStackConfigValues``; project.go ``Project.Validate`` and
``ValidateConfigValue``; the JSON schema sdk/go/common/workspace/project.json):

- a key of the project's namespace declared with neither ``default`` nor ``value`` is
  required: a stack file without it fails with "Stack 'S' is missing configuration value 'k'",
  whether or not the declaration has a ``type``;
- a declared ``default`` is applied to a stack that does not set the key, and must itself be
  of the declared type (checked when the project file is loaded);
- ``type`` is one of string, integer, boolean, array; an array declares ``items``; the only
  attributes are type, items, description, secret, default, value;
- a stack value is checked against the declared type: scalars arrive as the text YAML wrote
  (config/value.go ``unmarshalValue`` stores a scalar as a string), so a string key takes any
  scalar, an integer key text that ``strconv.Atoi`` parses, a boolean key exactly "true" or
  "false"; an array arrives as JSON and each item is checked against ``items``;
- keys the project does not declare are not looked at: the loop runs over the declarations.

So a schema field whose default is ``None`` (optional, e.g. ``imageDigest``) cannot be
declared: no default of its type means "required". Such keys stay undeclared; the schema
still types and checks them, and the file's header comment lists them.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, get_args, get_origin

# The CLI's config types (project.json ``simpleConfigType``) and declaration attributes.
CLI_TYPES = ("string", "integer", "boolean", "array")
CLI_ATTRIBUTES = {"type", "items", "description", "secret", "default", "value"}


class UndeclarableField(TypeError):
    """A schema field the CLI's project config cannot type (nested objects, dicts)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the config: block of Pulumi.yaml")
    action.add_argument(
        "--check",
        action="store_true",
        help="exit 1 if Pulumi.yaml's config: block differs from the schema, "
        "or the Pulumi CLI would refuse a stack file",
    )
    parser.add_argument("--project-dir", type=Path, default=None, help=argparse.SUPPRESS)


def _unwrap_optional(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if type(None) in get_args(annotation) and len(args) == 1:
        return args[0]
    return annotation


def _pulumi_type(annotation: Any, where: str) -> dict[str, Any]:
    """The CLI declaration (type, items) of a schema annotation."""
    annotation = _unwrap_optional(annotation)
    if get_origin(annotation) is list:
        (item,) = get_args(annotation) or (str,)
        return {"type": "array", "items": _pulumi_type(item, where)}
    if get_origin(annotation) is Literal:
        kinds = {type(v) for v in get_args(annotation)}
        annotation = kinds.pop() if len(kinds) == 1 else str
    if annotation is bool:
        return {"type": "boolean"}
    if annotation is int:
        return {"type": "integer"}
    if annotation in (str, float):
        # The CLI has no number type; a float is declared as text and parsed by the schema.
        return {"type": "string"}
    raise UndeclarableField(
        f"{where}: {annotation!r} has no Pulumi project config type (string, integer, boolean, array)"
    )


def _declared_default(value: Any, declaration: dict[str, Any]) -> Any:
    """A schema default in the form the declared type takes (a float as text, lists as lists)."""
    if declaration["type"] == "array":
        return [_declared_default(v, declaration["items"]) for v in value]
    if declaration["type"] == "string" and not isinstance(value, str):
        return str(value)
    return value


def project_config_block() -> dict[str, Any]:
    """The ``config:`` declarations for Pulumi.yaml: type, description, and the schema's
    default where the field has one. Fields whose default is None stay undeclared
    (``optional_keys``): the CLI would make a declared key without a default required."""
    from pydantic_core import PydanticUndefined  # noqa: PLC0415 (keeps --help fast)

    from stacks.config import SECTIONS, config_key  # noqa: PLC0415

    block: dict[str, Any] = {}
    for section, model in SECTIONS.items():
        for field, info in model.model_fields.items():
            key = config_key(section, field)
            declaration = _pulumi_type(
                info.annotation, f"stacks/sections.py: {model.__name__}.{field} ({key})"
            )
            has_default = info.default is not PydanticUndefined or info.default_factory is not None
            default = info.get_default(call_default_factory=True) if has_default else None
            if has_default and default is None:
                continue
            declaration["description"] = info.description or ""
            if has_default:
                declaration["default"] = _declared_default(default, declaration)
            # Declared without namespace: typed declarations are for the project's own keys.
            block[key] = declaration
    return block


def optional_keys() -> list[str]:
    """Schema keys with a None default: valid to leave out, so not declared in Pulumi.yaml."""
    from stacks.config import SECTIONS, config_key  # noqa: PLC0415

    return [
        config_key(section, field)
        for section, model in SECTIONS.items()
        for field, info in model.model_fields.items()
        if info.default is None and info.default_factory is None
    ]


# --- The CLI's rules, offline -------------------------------------------------------------

_GO_INT = re.compile(r"[+-]?[0-9]+")  # strconv.Atoi: optional sign, ASCII digits
_YAML12_INT = re.compile(r"[-+]?(0|[1-9][0-9]*|0x[0-9a-fA-F]+|0o[0-7]+)")
_YAML12_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")


def _go_scalar(node: Any) -> Any:
    """A YAML scalar as go-yaml v3 decodes it into ``any`` (YAML 1.2 core schema: ``yes`` is
    text there, unlike PyYAML's YAML 1.1)."""
    text = node.value
    if node.style in ("'", '"', "|", ">"):
        return text
    if text in ("", "~", "null", "Null", "NULL"):
        return None
    if text in ("true", "True", "TRUE", "false", "False", "FALSE"):
        return text.lower() == "true"
    if _YAML12_INT.fullmatch(text):
        return int(text, 0)
    if _YAML12_FLOAT.fullmatch(text):
        return float(text)
    return text


def _go_value(node: Any) -> Any:
    import yaml  # noqa: PLC0415

    if isinstance(node, yaml.SequenceNode):
        return [_go_value(n) for n in node.value]
    if isinstance(node, yaml.MappingNode):
        return {str(_go_value(k)): _go_value(v) for k, v in node.value}
    return _go_scalar(node)


def _stack_value(node: Any) -> Any:
    """A stack file value as the CLI validates it: a scalar is its text (config.Value keeps
    scalars as strings), anything else its JSON decoded again (numbers become floats)."""
    import yaml  # noqa: PLC0415

    if isinstance(node, yaml.ScalarNode):
        return "" if _go_scalar(node) is None else node.value
    return json.loads(json.dumps(_go_value(node)), parse_int=float)


def _integer_ok(value: Any) -> bool:
    # Go's YAML gives ints, JSON gives whole floats, a stack scalar gives text for Atoi.
    if isinstance(value, bool):
        return False
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return True
    return isinstance(value, str) and bool(_GO_INT.fullmatch(value))


def cli_value_ok(type_name: str, items: dict[str, Any] | None, value: Any) -> bool:
    """project.go ``ValidateConfigValue``, for values typed as Go sees them."""
    if type_name == "array":
        return (
            isinstance(value, list)
            and items is not None
            and all(cli_value_ok(items.get("type", ""), items.get("items"), item) for item in value)
        )
    scalar_checks: dict[str, Callable[[Any], bool]] = {
        "string": lambda v: isinstance(v, str),
        "integer": _integer_ok,
        "boolean": lambda v: v in ("true", "false") or isinstance(v, bool),
    }
    check = scalar_checks.get(type_name)
    return check is not None and bool(check(value))


def _full_type(type_name: str, items: dict[str, Any] | None) -> str:
    return f"array<{_full_type(items.get('type', ''), items.get('items'))}>" if items else type_name


def _own_key(project: str, key: str) -> bool:
    return ":" not in key or key.startswith(project + ":")


def project_problems(project: str, block: dict[str, Any]) -> list[str]:
    """What the CLI refuses in a ``config:`` block when it loads the project file."""
    problems: list[str] = []
    for key, written in block.items():
        # A bare value is shorthand for `default:` (project.go RewriteShorthandConfigValues).
        shorthand = "default" if _own_key(project, key) else "value"
        declaration = written if isinstance(written, dict) else {shorthand: written}
        unknown = sorted(set(declaration) - CLI_ATTRIBUTES)
        if unknown:
            problems.append(f"{key}: attributes {unknown} are not allowed ({sorted(CLI_ATTRIBUTES)})")
        type_name = declaration.get("type")
        if "default" in declaration and "value" in declaration:
            problems.append(f"{key}: cannot have both a 'default' and 'value' attribute")
        if not _own_key(project, key):
            if type_name is not None or "default" in declaration or "value" not in declaration:
                problems.append(f"{key}: not namespaced by the project: declare only a 'value'")
            continue
        if type_name is None:
            continue
        if type_name not in CLI_TYPES:
            problems.append(f"{key}: type {type_name!r} is not one of {list(CLI_TYPES)}")
        elif type_name == "array" and declaration.get("items") is None:
            problems.append(f"{key}: declares an array but not its 'items'")
        elif declaration.get("default") is not None and not cli_value_ok(
            type_name, declaration.get("items"), declaration["default"]
        ):
            problems.append(
                f"{key}: default {declaration['default']!r} is not of the expected type "
                f"'{_full_type(type_name, declaration.get('items'))}'"
            )
    return problems


def stack_problems(project: str, stack: str, block: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """What the CLI refuses in a stack's values (``{"proj:key": value as _stack_value gives}``)
    given the project's ``config:`` block: config.go ``mergeConfig`` then
    ``validateStackConfigValues``."""
    problems: list[str] = []
    missing: list[str] = []
    for key, declaration in sorted(block.items()):
        if not isinstance(declaration, dict) or not _own_key(project, key):
            continue
        full = key if ":" in key else f"{project}:{key}"
        if full not in values:
            if declaration.get("default") is None and declaration.get("value") is None:
                missing.append(key)
            continue
        type_name = declaration.get("type")
        if type_name is None:
            continue
        value = values[full]
        secure = isinstance(value, dict) and set(value) == {"secure"}
        if declaration.get("secret") and not secure:
            problems.append(
                f"Stack '{stack}' with configuration key '{key}' must be encrypted as it's secret"
            )
        # A secure value is typed after decryption, which needs the stack's secrets provider.
        elif not secure and not cli_value_ok(type_name, declaration.get("items"), value):
            problems.append(
                f"Stack '{stack}' with configuration key '{key}' must be of type "
                f"'{_full_type(type_name, declaration.get('items'))}'"
            )
    if missing:
        plural = "values" if len(missing) > 1 else "value"
        problems.insert(0, f"Stack '{stack}' is missing configuration {plural} {', '.join(missing)}")
    return problems


def read_project(path: Path) -> tuple[str, dict[str, Any]]:
    """Project name and ``config:`` block of a Pulumi.yaml, typed as go-yaml reads them."""
    import yaml  # noqa: PLC0415

    document = _go_value(yaml.compose(path.read_text()))
    return str(document.get("name", "")), document.get("config") or {}


def read_stack_values(path: Path) -> dict[str, Any]:
    """A stack file's ``config:`` values as the CLI validates them (``_stack_value``)."""
    import yaml  # noqa: PLC0415

    root = yaml.compose(path.read_text())
    if not isinstance(root, yaml.MappingNode):
        return {}
    for key, node in root.value:
        if key.value == "config" and isinstance(node, yaml.MappingNode):
            return {k.value: _stack_value(v) for k, v in node.value}
    return {}


def cli_problems(project_dir: Path) -> list[str]:
    """Every refusal the Pulumi CLI would give for Pulumi.yaml and each Pulumi.<stack>.yaml
    beside it, each line naming its file."""
    name, block = read_project(project_dir / "Pulumi.yaml")
    problems = [f"Pulumi.yaml: {p}" for p in project_problems(name, block)]
    for path in sorted(project_dir.glob("Pulumi.*.yaml")):
        stack = path.name.removeprefix("Pulumi.").removesuffix(".yaml")
        problems += [f"{path.name}: {p}" for p in stack_problems(name, stack, block, read_stack_values(path))]
    return problems


def _header(optional: list[str]) -> str:
    listed = "".join(f"#   {key}\n" for key in optional)
    return (
        "# The `config:` block is generated from stacks/sections.py: `notes-platform config --write`.\n"
        "# The Pulumi CLI requires every declared key that has no `default`; these keys are valid to\n"
        "# leave out and have no default of their type, so they are not declared (the schema checks them):\n"
        f"{listed}"
    )


def run(args: argparse.Namespace) -> int:
    import yaml  # noqa: PLC0415

    from stacks.config import ROOT  # noqa: PLC0415

    project_dir = args.project_dir or ROOT
    path = project_dir / "Pulumi.yaml"
    document = yaml.safe_load(path.read_text())
    block = project_config_block()
    if args.check:
        declared = document.get("config") or {}
        code = 0
        if declared == block:
            print(f"{path.name}: {len(block)} config declarations, in step with the schema")
        else:
            drift = sorted(k for k in {*declared, *block} if declared.get(k) != block.get(k))
            print(
                f"{path.name}: config declarations differ from the schema for {', '.join(drift)}; "
                "run `notes-platform config --write`",
                file=sys.stderr,
            )
            code = 1
        refused = cli_problems(project_dir)
        for problem in refused:
            print(problem, file=sys.stderr)
        if refused:
            return 1
        stacks = sorted(p.name for p in project_dir.glob("Pulumi.*.yaml"))
        print(f"the Pulumi CLI's project-config rules accept {', '.join(stacks)}")
        return code
    document["config"] = block
    body = yaml.safe_dump(document, sort_keys=False, width=120)
    path.write_text(_header(optional_keys()) + body)
    print(f"wrote {len(block)} config declarations to {path.name}")
    return 0

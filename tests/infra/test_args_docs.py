"""Every ``*Args`` dataclass under infra/ documents each of its fields the way ``EdgeArgs`` does:
a docstring right under the field saying what it is, whether it is required or its default,
and which config key or component feeds it.

The classes are found by importing every module under infra/ (packages included), so a module
added or split later is checked without a change here; the docstrings are read from the source,
since Python keeps no docstring for a field at runtime.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import importlib.util
import inspect
import pkgutil
import sys
import textwrap
from pathlib import Path
from types import ModuleType

import pytest

import infra

INFRA = Path(infra.__file__).parent


def field_docstrings(source: str) -> dict[str, dict[str, str | None]]:
    """Class name -> field -> the docstring right under the field, or None when there is none,
    for every class in ``source``. A field is an annotated assignment in the class body; its
    docstring is a string expression statement that immediately follows it."""
    classes: dict[str, dict[str, str | None]] = {}
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.ClassDef):
            continue
        fields: dict[str, str | None] = {}
        for index, statement in enumerate(node.body):
            if not (isinstance(statement, ast.AnnAssign) and isinstance(statement.target, ast.Name)):
                continue
            following = node.body[index + 1] if index + 1 < len(node.body) else None
            docstring = None
            if (
                isinstance(following, ast.Expr)
                and isinstance(following.value, ast.Constant)
                and isinstance(following.value.value, str)
                and following.value.value.strip()
            ):
                docstring = following.value.value
            fields[statement.target.id] = docstring
        classes[node.name] = fields
    return classes


def undocumented_fields(cls: type) -> list[str]:
    """The dataclass fields of ``cls`` without a docstring, inherited fields read from the
    class that declares them."""
    documented: dict[str, str | None] = {}
    for klass in reversed(cls.__mro__):
        if klass is not object and dataclasses.is_dataclass(klass):
            source = textwrap.dedent(inspect.getsource(klass))
            documented.update(field_docstrings(source).get(klass.__name__, {}))
    return [f.name for f in dataclasses.fields(cls) if documented.get(f.name) is None]


def _infra_modules() -> tuple[list[ModuleType], dict[str, str]]:
    """Every module under infra/, imported; and the ones that failed to import, with why."""
    failures: dict[str, str] = {}

    def failed(name: str) -> None:
        failures.setdefault(name, "the package failed to import while its subpackages were listed")

    modules: list[ModuleType] = [infra]
    for info in pkgutil.walk_packages(infra.__path__, prefix="infra.", onerror=failed):
        try:
            modules.append(importlib.import_module(info.name))
        # Any failure, not only ImportError: the test below reports it by module.
        except Exception as exc:
            failures[info.name] = f"{type(exc).__name__}: {exc}"
    return modules, failures


def _args_classes(modules: list[ModuleType]) -> list[type]:
    """The ``*Args`` dataclasses defined (not merely re-exported) in ``modules``."""
    found = {
        (value.__module__, value.__qualname__): value
        for module in modules
        for value in vars(module).values()
        if isinstance(value, type)
        and dataclasses.is_dataclass(value)
        and value.__name__.endswith("Args")
        and value.__module__ == module.__name__
    }
    return [found[key] for key in sorted(found)]


MODULES, IMPORT_FAILURES = _infra_modules()
ARGS_CLASSES = _args_classes(MODULES)


def test_every_module_under_infra_imports() -> None:
    # GIVEN every module under infra/, WHEN each is imported for the walk
    # THEN none fails: a module that does not import would escape the docstring check
    assert not IMPORT_FAILURES, "\n".join(f"{name}: {why}" for name, why in sorted(IMPORT_FAILURES.items()))


def test_the_walk_finds_every_args_class_in_the_tree() -> None:
    # GIVEN the *Args classes the files under infra/ declare
    declared = {
        node.name
        for path in INFRA.rglob("*.py")
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ClassDef) and node.name.endswith("Args")
    }
    # WHEN the modules are walked THEN each of them is among the checked classes
    checked = {cls.__name__ for cls in ARGS_CLASSES}
    assert declared, "no *Args class found under infra/"
    assert declared <= checked, f"declared under infra/ but not checked: {sorted(declared - checked)}"


@pytest.mark.parametrize("cls", ARGS_CLASSES, ids=lambda cls: f"{cls.__module__}.{cls.__qualname__}")
def test_every_args_field_has_a_docstring(cls: type) -> None:
    # GIVEN an *Args dataclass under infra/, WHEN its source is read
    missing = undocumented_fields(cls)
    # THEN every field has a docstring under it
    assert not missing, (
        f"{cls.__module__}.{cls.__qualname__}: no docstring under "
        + ", ".join(f"{cls.__qualname__}.{name}" for name in missing)
        + " (say what it is, whether it is required or its default, and which config key or "
        "component feeds it; see EdgeArgs)"
    )


PLANTED = '''
from dataclasses import dataclass


@dataclass(frozen=True)
class PlantedArgs:
    """The class docstring documents no field."""

    documented: str
    """What it is. From config `plantedDocumented`. Required."""
    commented: int = 1
    # A comment is not a docstring.
    bare: int = 2
    empty: int = 3
    """ """
    last: bool = False
'''


def test_the_checker_names_each_field_without_a_docstring() -> None:
    # GIVEN a class with one documented field and four without a docstring under them
    # WHEN the checker reads its source
    fields = field_docstrings(PLANTED)["PlantedArgs"]
    # THEN it finds the docstring of the documented field and names each of the others
    assert fields["documented"] == "What it is. From config `plantedDocumented`. Required."
    assert sorted(name for name, doc in fields.items() if doc is None) == [
        "bare",
        "commented",
        "empty",
        "last",
    ]


def test_the_checker_does_not_take_the_next_fields_docstring() -> None:
    # GIVEN a field without a docstring followed by a documented field
    source = 'class PairArgs:\n    first: int\n    second: int\n    """Second."""\n'
    # WHEN the checker reads it THEN the docstring belongs to the second field only
    assert field_docstrings(source) == {"PairArgs": {"first": None, "second": "Second."}}


def test_the_checker_reads_inherited_fields_from_their_own_class(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # GIVEN a dataclass whose base declares a field without a docstring, in a module of its own
    # (inspect reads a class's source from its module's file)
    path = tmp_path / "planted_args.py"
    path.write_text(
        "import dataclasses\n\n\n"
        "@dataclasses.dataclass\n"
        "class BaseArgs:\n    inherited: int = 0\n\n\n"
        "@dataclasses.dataclass\n"
        'class ChildArgs(BaseArgs):\n    own: int = 1\n    """Own."""\n'
    )
    spec = importlib.util.spec_from_file_location("planted_args", path)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, "planted_args", module)
    spec.loader.exec_module(module)
    # WHEN the checker reads the child class
    missing = undocumented_fields(module.ChildArgs)
    # THEN the base's undocumented field is named and the child's documented one is not
    assert missing == ["inherited"]

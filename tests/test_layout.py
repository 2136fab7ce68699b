"""The tree's shape: which folder may import which, and how big a file or function may grow.

The program (``infra/``, ``stacks/``) and the policy pack (``policies/``) never import the
tooling (``notes_platform/``); the tooling reads them. The pack imports nothing of ours but
itself: ``pulumi policy publish`` uploads the folder alone.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest

from stacks.config import ROOT
from tests.import_graph import import_cycles, import_graph

# Folder -> top-level packages of ours it must not import.
FORBIDDEN: dict[str, set[str]] = {
    "infra": {"stacks", "notes_platform", "policies", "tests"},
    "stacks": {"notes_platform", "policies", "tests"},
    "policies": {"infra", "stacks", "notes_platform", "tests"},
    "notes_platform": {"tests"},
}
SIZED = ("infra", "stacks", "notes_platform")
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 120
# A longer module says why in its docstring, a longer function in a comment on the line above
# its `def`, after this marker.
LONG_MARKER = "Long on purpose:"


def imported_packages(source: str) -> Iterator[tuple[int, str]]:
    """(line, top-level package) of every absolute import in a module, at any depth."""
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module.split(".")[0]


def forbidden_imports(folder: str, files: dict[str, str]) -> list[str]:
    return [
        f"{path}:{line} imports {package}"
        for path, source in sorted(files.items())
        for line, package in imported_packages(source)
        if package in FORBIDDEN[folder]
    ]


def oversized(files: dict[str, str]) -> list[str]:
    problems = []
    for path, source in sorted(files.items()):
        lines = source.splitlines()
        tree = ast.parse(source)
        if len(lines) > MAX_FILE_LINES and LONG_MARKER not in (ast.get_docstring(tree) or ""):
            problems.append(
                f"{path}: {len(lines)} lines (at most {MAX_FILE_LINES}, "
                f"or say why in its docstring after `{LONG_MARKER}`)"
            )
        for node in ast.walk(tree):
            if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                continue
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            above = lines[first - 2].strip() if first >= 2 else ""
            explained = above.startswith("#") and LONG_MARKER in above
            if length > MAX_FUNCTION_LINES and not explained:
                problems.append(
                    f"{path}:{node.lineno} {node.name}: {length} lines "
                    f"(at most {MAX_FUNCTION_LINES}, or say why above it after `{LONG_MARKER}`)"
                )
    return problems


def _sources(folder: str) -> dict[str, str]:
    return {
        str(path.relative_to(ROOT)): path.read_text()
        for path in sorted((ROOT / folder).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


@pytest.mark.parametrize("folder", sorted(FORBIDDEN))
def test_imports_go_one_way(folder: str) -> None:
    # GIVEN every module of the folder
    files = _sources(folder)
    assert files, folder
    # THEN none imports a package the folder must not depend on
    assert forbidden_imports(folder, files) == []


@pytest.mark.parametrize("folder", SIZED)
def test_files_and_functions_stay_readable(folder: str) -> None:
    assert oversized(_sources(folder)) == []


def test_the_import_check_finds_a_planted_import_at_any_depth() -> None:
    # GIVEN a component that reaches into the tooling inside a function, and a clean one
    files = {
        "infra/clean.py": "import pulumi\nfrom infra.kms import Keys\n",
        "infra/bad.py": "def f():\n    from notes_platform.graph.mocks import Recorded\n",
    }
    # THEN only the planted import is reported, with its line
    assert forbidden_imports("infra", files) == ["infra/bad.py:2 imports notes_platform"]
    assert forbidden_imports("policies", {"policies/x.py": "import stacks.config\n"}) == [
        "policies/x.py:1 imports stacks"
    ]


def test_the_size_check_finds_a_long_file_and_an_unexplained_long_function() -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    long_function = f"def long():\n{body}"
    explained = f"# {LONG_MARKER} one table, read top to bottom\ndef long():\n{body}"
    assert oversized({"a.py": long_function}) == [
        f"a.py:1 long: {MAX_FUNCTION_LINES + 1} lines "
        f"(at most {MAX_FUNCTION_LINES}, or say why above it after `{LONG_MARKER}`)"
    ]
    assert oversized({"b.py": explained}) == []
    many = "x = 1\n" * MAX_FILE_LINES
    assert oversized({"c.py": f'"""A module."""\n{many}'}) == [
        f"c.py: {MAX_FILE_LINES + 1} lines (at most {MAX_FILE_LINES}, "
        f"or say why in its docstring after `{LONG_MARKER}`)"
    ]
    assert oversized({"d.py": f'"""A table. {LONG_MARKER} one table."""\n{many}'}) == []


@pytest.mark.parametrize("package", ["infra", "stacks", "notes_platform", "policies"])
def test_no_import_cycle_inside_a_package(package: str) -> None:
    # GIVEN the package's modules and the imports that can run (tests/import_graph.py)
    graph = import_graph(ROOT / package, package)
    # THEN no two of its modules need each other
    cycles = import_cycles(graph)
    assert cycles == [], f"import cycles in {package}:\n" + "\n".join(" -> ".join(c) for c in cycles)

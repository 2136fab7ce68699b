"""No module of notes_api takes part in an import cycle among notes_api modules.

The graph is read from the source with ``ast``, not from ``sys.modules``, so it also sees the
imports that only run inside a function. Those count: a deferred import still makes the two
modules depend on each other, it only moves the failure from import time to the first call
(``main`` and ``server`` used to import each other that way). Deferring stays a tool for
import order and start-up cost, as ``server.build_app`` does with ``main``, in one direction.
Imports under ``if TYPE_CHECKING:`` do not count: they never run.
"""

from __future__ import annotations

from pathlib import Path

import notes_api
from tests.import_graph import import_cycles, import_graph


def test_no_import_cycle_among_notes_api_modules() -> None:
    # GIVEN every module of the installed notes_api package
    root = Path(notes_api.__file__).parent
    graph = import_graph(root, "notes_api")
    assert {"notes_api.main", "notes_api.server", "notes_api.core.draining"} <= graph.keys(), sorted(graph)
    # WHEN its import graph is searched for cycles
    cycles = import_cycles(graph)
    # THEN there are none
    assert cycles == [], "import cycles in notes_api:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_finds_every_cycle_of_a_small_graph() -> None:
    # GIVEN a graph with a three-module cycle, a separate two-module one, a self-import and a
    # module that only depends on a cycle
    graph = {
        "a": {"b"},
        "b": {"c"},
        "c": {"a", "d"},
        "d": set(),
        "e": {"a"},
        "f": {"g", "f"},
        "g": {"f"},
        "h": {"h"},
    }
    # WHEN it is searched
    cycles = import_cycles(graph)
    # THEN both cycles are reported, each from its first module, and nothing else
    assert sorted(cycles) == [["a", "b", "c", "a"], ["f", "g", "f"]]
    # AND an acyclic graph has none
    assert import_cycles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == []


def test_the_checker_catches_a_planted_cycle_in_a_package(tmp_path: Path) -> None:
    # GIVEN a package shaped like notes_api once was: main imports server inside a function,
    # server imports main inside a function, and core.shutdown only names main for type checking
    files = {
        "__init__.py": "",
        "main.py": "def create_app():\n    from pkg.server import install\n    return install\n",
        "server.py": "def build_app():\n    from . import main\n    return main.create_app()\n",
        "core/__init__.py": "",
        "core/shutdown.py": (
            "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n    from ..main import create_app\n"
            "else:\n    import pkg.core\n"
        ),
        "core/config.py": "from pkg.core import shutdown\n",
    }
    for name, source in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(source)
    # WHEN its import graph is built and searched
    graph = import_graph(tmp_path, "pkg")
    cycles = import_cycles(graph)
    # THEN function-level and relative imports are edges, the TYPE_CHECKING one is not
    assert graph == {
        "pkg": set(),
        "pkg.main": {"pkg.server"},
        "pkg.server": {"pkg.main"},
        "pkg.core": set(),
        "pkg.core.shutdown": {"pkg.core"},
        "pkg.core.config": {"pkg.core.shutdown"},
    }
    # AND the planted cycle is the one reported
    assert cycles == [["pkg.main", "pkg.server", "pkg.main"]]

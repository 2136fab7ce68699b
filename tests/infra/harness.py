"""Run a component (or the whole program) under mocks and query what it registered."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from notes_platform.graph.mocks import Recorded, RecordedGraph, record


@dataclass
class Graph(RecordedGraph):
    result: Any = None

    def one(self, type_token: str, name: str | None = None) -> Recorded:
        found = [r for r in self.of_type(type_token) if name is None or r.name == name]
        assert len(found) == 1, f"expected one {type_token} {name or ''}, found {[r.urn for r in found]}"
        return found[0]

    def named(self, name: str) -> Recorded:
        found = [r for r in self.resources if r.name == name]
        assert len(found) == 1, f"expected one resource named {name}, found {[r.urn for r in found]}"
        return found[0]

    def children_of(self, urn: str) -> list[Recorded]:
        return [r for r in self.resources if r.parent == urn]

    def custom(self) -> list[Recorded]:
        return [r for r in self.resources if r.custom and not r.type.startswith("pulumi:providers:")]


def run(program: Callable[[], Any], **kwargs: Any) -> Graph:
    resources, result = record(program, **kwargs)
    return Graph(resources, result)

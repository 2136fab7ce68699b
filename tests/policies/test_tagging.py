"""Tagging policy: the cost and ownership tags on every taggable resource, through the
provider's default tags; and the list of taggable types against the pulumi_aws schema."""

from __future__ import annotations

import importlib
import inspect
import json
import re
from pathlib import Path

import pytest

from policies.notes_policies import resource_types as t
from policies.notes_policies.tagging import required_tags
from tests.policies import fixtures as f
from tests.policies.harness import (
    Resource,
    applied,
    aws_resource_class,
    check,
    named,
    provider_urn,
    setting,
    snapshot,
)

MISSING_ALL = "Resources must carry the tags Project, Environment, Owner, CostCenter."


def accepts_tags(type_token: str) -> bool:
    """Whether pulumi_aws's resource class for ``type_token`` takes a ``tags`` argument."""
    return "tags" in inspect.signature(aws_resource_class(type_token)._internal_init).parameters


def _taggable_in(stack: str) -> list[Resource]:
    return [r for r in snapshot(stack) if r["type"] in t.TAGGABLE]


@pytest.mark.parametrize("target", _taggable_in("prod"), ids=lambda r: r["name"])
def test_every_taggable_resource_of_prod_carries_the_tags(target: Resource) -> None:
    assert check(required_tags, target, graph=snapshot("prod")) == [], target["urn"]


def test_a_provider_without_default_tags_leaves_resources_untagged() -> None:
    # GIVEN the stack's provider without its default tags
    graph = snapshot("prod")
    named(graph, "aws")["inputs"].pop("defaultTags")
    # WHEN a taggable resource with only a Name tag is validated THEN every required tag is missing
    assert check(required_tags, f.vpc(), graph=graph) == [MISSING_ALL]


def test_a_resource_tag_overrides_the_default_one() -> None:
    blanked = applied(f.vpc(), setting("tags", {"Name": "notes-prod-vpc", "Owner": ""}))
    assert check(required_tags, blanked) == ["Resources must carry the tags Owner."]


def test_a_resources_own_tags_are_enough() -> None:
    tags = {
        "Project": "notes-platform",
        "Environment": "prod",
        "Owner": "platform-team",
        "CostCenter": "cc-1",
    }
    tagged = applied(f.vpc(), setting("tags", tags))
    assert check(required_tags, tagged, graph=[{**named(snapshot("prod"), "aws"), "inputs": {}}]) == []


def test_default_tags_given_as_an_object_are_read_too() -> None:
    provider = named(snapshot("prod"), "aws")
    provider["inputs"]["defaultTags"] = json.loads(provider["inputs"]["defaultTags"])
    assert check(required_tags, f.vpc(), graph=[provider]) == []


def test_untaggable_types_are_not_asked() -> None:
    # GIVEN a route (AWS routes take no tags) whose provider has no default tags
    route = next(r for r in snapshot("prod") if r["type"] == "aws:ec2/route:Route")
    route["provider"] = provider_urn("prod", "nowhere")
    assert check(required_tags, route) == []


@pytest.mark.parametrize("type_token", sorted(t.TAGGABLE))
def test_every_type_listed_as_taggable_takes_tags(type_token: str) -> None:
    assert accepts_tags(type_token), f"{type_token} takes no tags in pulumi_aws: drop it from TAGGABLE"


def _constructed_in_the_program() -> set[str]:
    """Type tokens of the pulumi_aws resources the program's source constructs."""
    root = Path(__file__).resolve().parents[2]
    calls = {
        match
        for folder in ("infra", "stacks")
        for path in (root / folder).rglob("*.py")
        for match in re.findall(r"\baws\.(\w+)\.([A-Z]\w*)\(", path.read_text())
    }
    tokens = set()
    for module, kind in calls:
        cls = getattr(importlib.import_module(f"pulumi_aws.{module}"), kind, None)
        if inspect.isclass(cls) and hasattr(cls, "_internal_init"):
            # The token is the first argument the class passes to CustomResource.
            found = re.search(r"super\(\w+, __self__\).__init__\(\s*'([^']+)'", inspect.getsource(cls))
            if found:
                tokens.add(found.group(1))
    return tokens


def test_every_taggable_type_the_program_constructs_is_listed() -> None:
    constructed = _constructed_in_the_program()
    assert {"aws:ec2/vpc:Vpc", "aws:cloudfront/distribution:Distribution"} <= constructed, constructed
    unlisted = sorted(typ for typ in constructed - t.TAGGABLE if accepts_tags(typ))
    assert unlisted == [], f"add to resource_types.TAGGABLE: {unlisted}"


@pytest.mark.parametrize("stack", ["staging", "prod"])
def test_every_taggable_type_the_program_registers_is_listed(stack: str) -> None:
    registered = {r["type"] for r in snapshot(stack) if r["type"].startswith("aws:")}
    unlisted = sorted(typ for typ in registered - t.TAGGABLE if accepts_tags(typ))
    assert unlisted == [], f"add to resource_types.TAGGABLE: {unlisted}"

"""Tagging: every taggable resource says which project, environment, owner and budget it belongs to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pulumi_policy import Policy, ReportViolation, ResourceValidationArgs

from . import resource_types as t
from .common import Settings, document, mapping, resource_rule, strings_setting, text


def effective_tags(props: Mapping[str, Any], provider_props: Mapping[str, Any] | None) -> dict[str, str]:
    """The tags AWS ends up with: the provider's default tags under the resource's own.

    Provider properties travel as strings, so ``defaultTags`` arrives as a JSON document.
    """
    defaults = mapping(mapping(document(mapping(provider_props).get("defaultTags"))).get("tags"))
    merged = {**defaults, **mapping(props.get("tagsAll")), **mapping(props.get("tags"))}
    return {str(key): text(value) for key, value in merged.items()}


@resource_rule(
    "required-tags",
    "Taggable resources carry the cost and ownership tags, from the provider's default tags or their own.",
    types=t.TAGGABLE,
    config={
        "requiredTags": strings_setting(
            ["Project", "Environment", "Owner", "CostCenter"],
            "tag keys every taggable resource must carry with a non-empty value",
        )
    },
)
def required_tags(args: ResourceValidationArgs, report: ReportViolation, settings: Settings) -> None:
    tags = effective_tags(args.props, args.provider.props if args.provider else None)
    missing = [key for key in settings.strings("requiredTags") if not tags.get(key)]
    if missing:
        report(f"Resources must carry the tags {', '.join(missing)}.", None)


POLICIES: list[Policy] = [required_tags]

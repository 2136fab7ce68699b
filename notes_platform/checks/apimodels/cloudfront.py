"""CloudFront cache, origin request and response headers policies -> cloudfront
CreateCachePolicy / CreateOriginRequestPolicy / CreateResponseHeadersPolicy.

Pulumi's properties are the members of the request's ``*PolicyConfig``, named alike except
that every ``{Quantity, Items}`` list is just ``{items}``: the provider counts the items, so a
missing ``Quantity`` is never the user's. TTLs are seconds, so never negative, and CloudFront
rejects a cache policy whose TTLs are out of order (MinTTL <= DefaultTTL <= MaxTTL); a
whitelist behaviour needs the names it lists.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from typing import Any

from notes_platform.checks.apimodels._documents import (
    PROVIDER_ONLY,
)
from notes_platform.checks.apimodels._shapes import (
    Family,
    Report,
    Translation,
    child,
    is_number,
    unknown,
)

CACHE_POLICY = "aws:cloudfront/cachePolicy:CachePolicy"
ORIGIN_REQUEST_POLICY = "aws:cloudfront/originRequestPolicy:OriginRequestPolicy"
RESPONSE_HEADERS_POLICY = "aws:cloudfront/responseHeadersPolicy:ResponseHeadersPolicy"

TTLS = ("minTtl", "defaultTtl", "maxTtl")
# The behaviour that forwards only the names listed, and so is empty-handed without a list
# (CachePolicyHeadersConfig and its siblings: "whitelist - Only the HTTP headers that are
# listed in the Headers type"). allExcept with no names is "all", which CloudFront may accept.
LISTING_BEHAVIOURS = ("whitelist",)
# (config, behaviour member, list member)
CONFIGS = (
    ("headersConfig", "headerBehavior", "headers"),
    ("cookiesConfig", "cookieBehavior", "cookies"),
    ("queryStringsConfig", "queryStringBehavior", "queryStrings"),
)


def _behaviours(parameters: Mapping[str, Any], path: str, report: Report) -> None:
    for config, behaviour, names in CONFIGS:
        settings = parameters.get(config)
        if not isinstance(settings, dict):
            continue
        where = child(path, config)
        chosen = settings.get(behaviour)
        if unknown(chosen):
            continue
        listed = settings.get(names)
        items = listed.get("items") if isinstance(listed, dict) else None
        if chosen in LISTING_BEHAVIOURS and not items:
            report(child(where, names), f"{behaviour} {chosen!r} needs {names}.items")


def _cache_policy(inputs: Mapping[str, Any], report: Report) -> None:
    ttls = {k: inputs.get(k) for k in TTLS}
    numbers = {k: v for k, v in ttls.items() if is_number(v)}
    for key, value in numbers.items():
        if value < 0:
            report(key, f"{value} is below the minimum 0")
    ordered = [k for k in TTLS if k in numbers]
    for low, high in itertools.pairwise(ordered):
        if numbers[low] > numbers[high]:
            report(high, f"{numbers[high]} is below {low} {numbers[low]}; TTLs go min <= default <= max")
    parameters = inputs.get("parametersInCacheKeyAndForwardedToOrigin")
    if isinstance(parameters, dict):
        _behaviours(parameters, "parametersInCacheKeyAndForwardedToOrigin", report)


def _policy(
    title: str,
    type_token: str,
    policy: str,
    *,
    defaults: Mapping[str, frozenset[str]] | None = None,
    semantic: Callable[[Mapping[str, Any], Report], None] | None = None,
) -> Family:
    """The family of one kind of policy: Pulumi's properties are the members of Create{policy}'s
    {policy}Config. ``defaults``: shape -> members the provider sends when left out."""
    config = f"{policy}Config"
    # Auto-named; every Quantity is counted by the provider.
    provided = {"*": frozenset({"Quantity"}), **(defaults or {})}
    provided[config] = frozenset({"Name"}) | provided.get(config, frozenset())
    return Family(
        title=title,
        types=(type_token,),
        service="cloudfront",
        operation=f"Create{policy}",
        root=config,
        translation=Translation(rules={config: PROVIDER_ONLY}, provided=provided),
        semantic=semantic,
    )


FAMILIES = (
    _policy(
        "CloudFront cache policy",
        CACHE_POLICY,
        "CachePolicy",
        # The provider's documented defaults: MinTTL 0, gzip off.
        defaults={
            "CachePolicyConfig": frozenset({"MinTTL"}),
            "ParametersInCacheKeyAndForwardedToOrigin": frozenset({"EnableAcceptEncodingGzip"}),
        },
        semantic=_cache_policy,
    ),
    _policy(
        "CloudFront origin request policy",
        ORIGIN_REQUEST_POLICY,
        "OriginRequestPolicy",
        semantic=lambda inputs, report: _behaviours(inputs, "", report),
    ),
    _policy("CloudFront response headers policy", RESPONSE_HEADERS_POLICY, "ResponseHeadersPolicy"),
)

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
from collections.abc import Mapping
from typing import Any

from stacks.apimodels._shapes import PROVIDER_ONLY, Family, Report, Translation, child, is_number, unknown

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


def _translation(config: str) -> Translation:
    return Translation(
        rules={config: PROVIDER_ONLY},
        provided={config: frozenset({"Name"}), "*": frozenset({"Quantity"})},  # auto-named; counted
    )


def _behaviours(parameters: Mapping[str, Any], path: str, report: Report) -> None:
    for config, behaviour, names in CONFIGS:
        settings = parameters.get(config)
        if not isinstance(settings, dict):
            continue
        where = child(path, config) if path else config
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


FAMILIES = (
    Family(
        title="CloudFront cache policy",
        types=(CACHE_POLICY,),
        service="cloudfront",
        operation="CreateCachePolicy",
        root="CachePolicyConfig",
        translation=Translation(
            rules={"CachePolicyConfig": PROVIDER_ONLY},
            provided={
                # Auto-named; the provider sends its documented defaults (MinTTL 0, gzip off).
                "CachePolicyConfig": frozenset({"Name", "MinTTL"}),
                "ParametersInCacheKeyAndForwardedToOrigin": frozenset({"EnableAcceptEncodingGzip"}),
                "*": frozenset({"Quantity"}),
            },
        ),
        semantic=_cache_policy,
    ),
    Family(
        title="CloudFront origin request policy",
        types=(ORIGIN_REQUEST_POLICY,),
        service="cloudfront",
        operation="CreateOriginRequestPolicy",
        root="OriginRequestPolicyConfig",
        translation=_translation("OriginRequestPolicyConfig"),
        semantic=lambda inputs, report: _behaviours(inputs, "", report),
    ),
    Family(
        title="CloudFront response headers policy",
        types=(RESPONSE_HEADERS_POLICY,),
        service="cloudfront",
        operation="CreateResponseHeadersPolicy",
        root="ResponseHeadersPolicyConfig",
        translation=_translation("ResponseHeadersPolicyConfig"),
    ),
)

"""CloudFront's fixed values the edge is built with: the region CloudFront reads from, AWS's
managed policy ids and hosted zone, the price classes, the origin timeouts and the access log
fields. Plain Python: the checks and tests read them without loading pulumi."""

from __future__ import annotations

EDGE_REGION = "us-east-1"
# AWS managed CloudFront policies (ids are fixed by AWS and the same in every account).
CACHING_DISABLED_POLICY_ID = "4135ea2d-6df8-44a3-9df3-4b5a84be39ad"
ALL_VIEWER_EXCEPT_HOST_HEADER_POLICY_ID = "b689b0a8-53d0-40ab-baf2-68738e2966ac"
# Alias records to any distribution point at CloudFront's own hosted zone.
CLOUDFRONT_HOSTED_ZONE_ID = "Z2FDTNDATAQYW2"
ALL_METHODS = ("GET", "HEAD", "OPTIONS", "PUT", "POST", "PATCH", "DELETE")
ORIGIN_ID = "alb"
# Longer than the API's slowest request, short enough that a stuck origin frees the viewer.
ORIGIN_READ_TIMEOUT_SECONDS = 30
# CloudFront must close idle origin connections before the ALB does (its idle timeout is 60 s
# by default), or it reuses connections the ALB has dropped and viewers see 502s.
ORIGIN_KEEPALIVE_SECONDS = 5
HSTS_MAX_AGE_SECONDS = 63_072_000  # two years, what the HSTS preload list asks for

PRICE_CLASSES = ("PriceClass_100", "PriceClass_200", "PriceClass_All")
# CloudFront standard log fields (v2 delivery), all of them but cs(Cookie): cookies can carry
# session material, and the API never reads one.
ACCESS_LOG_FIELDS = (
    "date",
    "time",
    "x-edge-location",
    "sc-bytes",
    "c-ip",
    "cs-method",
    "cs(Host)",
    "cs-uri-stem",
    "sc-status",
    "cs(Referer)",
    "cs(User-Agent)",
    "cs-uri-query",
    "x-edge-result-type",
    "x-edge-request-id",
    "x-host-header",
    "cs-protocol",
    "cs-bytes",
    "time-taken",
    "x-forwarded-for",
    "ssl-protocol",
    "ssl-cipher",
    "x-edge-response-result-type",
    "cs-protocol-version",
    "fle-status",
    "fle-encrypted-fields",
    "c-port",
    "time-to-first-byte",
    "x-edge-detailed-result-type",
    "sc-content-type",
    "sc-content-len",
    "sc-range-start",
    "sc-range-end",
)

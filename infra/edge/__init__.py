"""The edge of the API: a CloudFront distribution in front of the ALB, its WAF web ACL, viewer
certificate, DNS names, access logs and alarms, and the origin secret that locks the ALB to it.

- ``component``: ``Edge`` (its args in ``args``), everything CloudFront needs in us-east-1 and the
  Route 53 aliases; ``validation``: the checks on ``EdgeArgs``.
- ``origin_secret``: ``OriginSecret`` and ``OriginSecretArgs``, the generated header value and
  how to rotate it.
- ``waf``: the web ACL's rules as WAF inputs; ``waf_rules``: their names and limits.
- ``logs``: the WAF log group and the CloudFront access log delivery.
- ``cloudfront``: CloudFront's fixed values (region, managed policy ids, log fields).

``waf_rules`` and ``cloudfront`` are plain Python, and this file imports nothing: the stack's
config schema reads the rule names without loading pulumi or pulumi_aws.

Construction order in a stack::

    origin = OriginSecret(f"{env}-origin-secret", OriginSecretArgs(...))
    alb = LoadBalancer(..., LoadBalancerArgs(..., origin_header_name=origin.header_name,
                                             origin_secret_values=origin.accepted_values))
    edge = Edge(f"{env}-edge", EdgeArgs(..., origin_secret=origin, origin_ready=[alb.origin_rule]))
"""

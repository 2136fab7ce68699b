# Routers carry their full prefix (instead of being nested under an /api/v1 router) so that
# a matched route's `path` is the whole template, which the metrics use as their label.
API_PREFIX = "/api/v1"

"""Prometheus metrics: the registry and the request counters. Apps register their own
collectors here from their AppConfig.ready (inventory: machines by state)."""

from prometheus_client import CollectorRegistry, Counter, Histogram

REGISTRY = CollectorRegistry(auto_describe=True)

HTTP_REQUESTS = Counter(
    "rackpilot_http_requests_total",
    "HTTP requests served",
    ["method", "view", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "rackpilot_http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["view"],
    registry=REGISTRY,
)

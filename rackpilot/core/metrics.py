"""Prometheus metrics: request counters plus inventory gauges read at scrape time."""

from collections.abc import Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

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


class InventoryCollector(Collector):
    """Counts read from the database when Prometheus scrapes, so every process agrees."""

    def describe(self) -> list[GaugeMetricFamily]:
        # Without this, registering the collector would query the database at import time.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from inventory.selectors import machine_counts_by_state

        machines = GaugeMetricFamily(
            "rackpilot_machines", "Machines in the inventory by state", labels=["state"]
        )
        for state, count in machine_counts_by_state().items():
            machines.add_metric([state], count)
        yield machines


REGISTRY.register(InventoryCollector())

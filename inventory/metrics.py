"""Inventory gauges for Prometheus, read from the database at scrape time."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from inventory.selectors import machine_counts_by_state


class InventoryCollector(Collector):
    """Counts read from the database when Prometheus scrapes, so every process agrees."""

    def describe(self) -> list[GaugeMetricFamily]:
        # Without this, registering the collector would query the database at import time.
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        machines = GaugeMetricFamily(
            "rackpilot_machines", "Machines in the inventory by state", labels=["state"]
        )
        for state, count in machine_counts_by_state().items():
            machines.add_metric([state], count)
        yield machines

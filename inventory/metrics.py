"""Inventory gauges for Prometheus, read from the database at scrape time (one aggregate query
each), so every process answers the same."""

from __future__ import annotations

from inventory.power.models import PowerJob
from inventory.selectors import machine_counts_by_state
from inventory.states import PowerJobState
from rackpilot.core.metrics import register_scrape_gauge
from rackpilot.core.selectors import counts_by_state


def power_job_counts_by_state() -> dict[str, int]:
    return counts_by_state(PowerJob.objects.all(), PowerJobState.values)


def register_metrics() -> None:
    register_scrape_gauge(
        "rackpilot_machines",
        "Machines in the inventory by state",
        machine_counts_by_state,
        label="state",
    )
    register_scrape_gauge(
        "rackpilot_power_jobs",
        "BMC power jobs by state",
        power_job_counts_by_state,
        label="state",
    )

"""Inventory gauges for Prometheus, read from the database at scrape time (one aggregate query
each), so every process answers the same."""

from __future__ import annotations

from django.db.models import Count

from inventory.power.models import PowerJob
from inventory.selectors import machine_counts_by_state
from inventory.states import PowerJobState
from rackpilot.core.metrics import register_scrape_gauge


def power_job_counts_by_state() -> dict[str, int]:
    counts = {state.value: 0 for state in PowerJobState}
    for row in PowerJob.objects.values("state").annotate(n=Count("id")).order_by():
        counts[row["state"]] = row["n"]
    return counts


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

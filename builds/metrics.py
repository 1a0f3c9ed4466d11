"""Build gauges for Prometheus, read from the database at scrape time (one aggregate query)."""

from __future__ import annotations

from django.db.models import Count

from builds.models import Build
from builds.states import BuildState
from rackpilot.core.metrics import register_scrape_gauge


def build_counts_by_state() -> dict[str, int]:
    counts = {state.value: 0 for state in BuildState}
    for row in Build.objects.values("state").annotate(n=Count("id")).order_by():
        counts[row["state"]] = row["n"]
    return counts


def register_metrics() -> None:
    register_scrape_gauge(
        "rackpilot_builds", "Hook builds by state", build_counts_by_state, label="state"
    )

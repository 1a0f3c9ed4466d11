"""Build gauges for Prometheus, read from the database at scrape time (one aggregate query)."""

from __future__ import annotations

from builds.models import Build
from builds.states import BuildState
from rackpilot.core.metrics import register_scrape_gauge
from rackpilot.core.selectors import counts_by_state


def build_counts_by_state() -> dict[str, int]:
    return counts_by_state(Build.objects.all(), BuildState.values)


def register_metrics() -> None:
    register_scrape_gauge(
        "rackpilot_builds", "Hook builds by state", build_counts_by_state, label="state"
    )

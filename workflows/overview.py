"""The workflows app's sections of the overview: workflow counters, the daily charts
(provisioning duration p50/p95, outcomes) and the provisioning phases."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any, TypeVar, cast

from django.core.cache import cache
from django.db.models import Count, Max, Q
from django.db.models.functions import TruncDate
from django.http import HttpRequest
from django.utils import timezone
from redis.exceptions import RedisError

from workflows import phases
from workflows.models import Workflow
from workflows.states import WorkflowState

CHART_DAYS = 14
PHASE_DAYS = 30
CACHE_SECONDS = 3600
T = TypeVar("T")
logger = logging.getLogger(__name__)
W = WorkflowState


def workflow_counts(now: datetime) -> dict[str, int]:
    day_ago = now - timedelta(hours=24)
    return Workflow.objects.aggregate(
        running=Count("id", filter=Q(state=W.RUNNING)),
        pending=Count("id", filter=Q(state=W.PENDING)),
        failed_24h=Count("id", filter=Q(state__in=(W.FAILED, W.TIMEOUT), finished_at__gte=day_ago)),
        succeeded_24h=Count("id", filter=Q(state=W.SUCCESS, finished_at__gte=day_ago)),
    )


def counters_context(request: HttpRequest) -> dict[str, Any]:
    return {"workflow_counts": workflow_counts(timezone.now())}


def _days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


def chart_data(*, now: datetime | None = None, days: int = CHART_DAYS) -> dict[str, Any]:
    """Per day (in the server's time zone) of the last ``days``: outcomes of the workflows
    that finished that day, and the p50/p95 of successful workflows' durations (start to end).

    Two queries: outcome counts grouped in SQL, then the successful runs' start and end.
    """
    now = now or timezone.now()
    today = timezone.localdate(now)
    labels = _days(today, days)
    since = timezone.make_aware(datetime.combine(labels[0], datetime.min.time()))
    finished = Workflow.objects.filter(finished_at__gte=since)
    outcomes: dict[str, dict[date, int]] = defaultdict(dict)
    for row in (
        finished.annotate(day=TruncDate("finished_at"))
        .values("day", "state")
        .annotate(n=Count("id"))
        .order_by()
    ):
        outcomes[row["state"]][row["day"]] = row["n"]
    durations: dict[date, list[float]] = defaultdict(list)
    for started_at, finished_at in finished.filter(
        state=W.SUCCESS, started_at__isnull=False
    ).values_list("started_at", "finished_at"):
        if started_at is not None and finished_at is not None:
            day = timezone.localdate(finished_at)
            durations[day].append((finished_at - started_at).total_seconds())

    def quantile(day: date, share: float) -> float | None:
        values = sorted(durations.get(day, []))
        return round(phases.percentile(values, share), 1) if values else None

    outcome_states = [W.SUCCESS, W.FAILED, W.TIMEOUT, W.CANCELLED]
    return {
        "days": [day.isoformat() for day in labels],
        "duration_p50": [quantile(day, 0.5) for day in labels],
        "duration_p95": [quantile(day, 0.95) for day in labels],
        "outcomes": [
            {
                "state": state.value,
                "label": state.label,
                "counts": [outcomes[state.value].get(day, 0) for day in labels],
            }
            for state in outcome_states
        ],
    }


def _finished_version(now: datetime) -> str:
    """Changes whenever a workflow finishes (and every hour, as the windows move on)."""
    row = Workflow.objects.aggregate(last=Max("finished_at"), count=Count("finished_at"))
    return f"{row['last'] and row['last'].isoformat()}:{row['count']}:{now:%Y%m%d%H}"


def cached(name: str, compute: Callable[[], T], *, now: datetime | None = None) -> T:
    """``compute()`` once per finished-workflow version: the charts and the phase table read
    every recent workflow, and change only when one finishes. Without a cache (Redis down),
    computed each time."""
    key = f"overview:{name}:{_finished_version(now or timezone.now())}"
    try:
        found = cache.get(key)
    except RedisError:
        logger.warning("overview cache unavailable; computing %s", name, exc_info=True)
        return compute()
    if found is not None:
        return cast(T, found)
    value = compute()
    with contextlib.suppress(RedisError):
        cache.set(key, value, timeout=CACHE_SECONDS)
    return value


def cached_chart_data() -> dict[str, Any]:
    now = timezone.now()
    return cached("charts", lambda: chart_data(now=now), now=now)


def charts_context(request: HttpRequest) -> dict[str, Any]:
    return {"chart_data": cached_chart_data()}


def phases_context(request: HttpRequest) -> dict[str, Any]:
    group_by = request.GET.get("group_by", "")
    if group_by not in phases.GROUPINGS:
        group_by = ""
    now = timezone.now()
    since = now - timedelta(days=PHASE_DAYS)
    summary = cached(
        f"phases:{group_by}",
        lambda: phases.phase_summary(Workflow.objects.all(), group_by=group_by, since=since),
        now=now,
    )
    return {
        "phase_summary": summary,
        "groupings": phases.GROUPINGS,
        "phase_days": PHASE_DAYS,
    }


def register_sections() -> None:
    from rackpilot.core.overview import register_overview_section

    register_overview_section(
        name="workflows",
        order=20,
        permission="workflows.view_workflow",
        template="workflows/overview/counters.html",
        context=counters_context,
        live=True,
    )
    register_overview_section(
        name="charts",
        order=40,
        permission="workflows.view_workflow",
        template="workflows/overview/charts.html",
        context=charts_context,
    )
    register_overview_section(
        name="phases",
        order=50,
        permission="workflows.view_workflow",
        template="workflows/overview/phases.html",
        context=phases_context,
    )

"""The builds app's section of the overview: Hook builds running, failed, and the default."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db.models import Count, Q
from django.http import HttpRequest
from django.utils import timezone

from builds.models import Build
from builds.states import BuildState


def counters_context(request: HttpRequest) -> dict[str, Any]:
    day_ago = timezone.now() - timedelta(hours=24)
    counts = Build.objects.aggregate(
        active=Count("id", filter=Q(state__in=(BuildState.QUEUED, BuildState.RUNNING))),
        failed_24h=Count("id", filter=Q(state=BuildState.FAILED, finished_at__gte=day_ago)),
        succeeded=Count("id", filter=Q(state=BuildState.SUCCESS)),
    )
    return {"build_counts": counts}


def register_sections() -> None:
    from rackpilot.core.overview import register_overview_section

    register_overview_section(
        name="builds",
        order=30,
        permission="builds.view_build",
        template="builds/overview/counters.html",
        context=counters_context,
        live=True,
    )

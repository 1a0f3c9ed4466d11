import json

import redis
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from rackpilot.core import redis_sentinel
from rackpilot.core.access import READ_APPS, requires
from rackpilot.core.columns import Column, column_set
from rackpilot.core.events import redact_changes
from rackpilot.core.filters import EventFilterSet
from rackpilot.core.listing import export_view, list_page
from rackpilot.core.metrics import exposition_registry
from rackpilot.core.models import Event
from rackpilot.core.search import SearchHit, search_everything


def redis_client() -> redis.Redis:
    if settings.REDIS_SENTINEL is not None:
        return redis_sentinel.redis_client(
            settings.REDIS_SENTINEL, socket_timeout=2, socket_connect_timeout=2
        )
    if settings.REDIS_URL:
        return redis.Redis.from_url(settings.REDIS_URL, socket_timeout=2)
    return redis.Redis(unix_socket_path=str(settings.EMBEDDED_REDIS_SOCKET), socket_timeout=2)


@require_GET
def healthz(request: HttpRequest) -> JsonResponse:
    checks: dict[str, str] = {}
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
        checks["database"] = "ok"
    except Exception as exc:
        checks["database"] = f"error: {exc}"
    try:
        client = redis_client()
        client.ping()
        client.close()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"error: {exc}"
    healthy = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if healthy else "error", "checks": checks}, status=200 if healthy else 503
    )


@require_GET
def metrics_view(request: HttpRequest) -> HttpResponse:
    return HttpResponse(generate_latest(exposition_registry()), content_type=CONTENT_TYPE_LATEST)


EVENT_ORDERINGS = {"time": ("timestamp", "id"), "verb": ("verb", "timestamp", "id")}
EVENT_COLUMNS = column_set(
    "events",
    [
        Column("time", "Time", lambda e: e.timestamp, sort="time", locked=True),
        Column("actor_kind", "Actor kind", lambda e: e.actor_kind, default=False),
        Column("actor", "Actor", lambda e: e.actor_name),
        Column("verb", "Event", lambda e: e.verb, sort="verb"),
        Column("object_type", "Object type", lambda e: e.object_type, default=False),
        Column("object", "Object", lambda e: e.object_repr),
        Column(
            "machine", "Machine", lambda e: e.machine.hostname if e.machine else None, default=False
        ),
        # Recorded without secrets; redacted again in case an old row predates a rule.
        Column("changes", "Changes", lambda e: json.dumps(redact_changes(e.changes or {}))),
        Column("message", "Message", lambda e: e.message),
        Column("request_id", "Request", lambda e: e.request_id, default=False),
    ],
)


def _events() -> QuerySet[Event]:
    return Event.objects.select_related("content_type", "machine")


@requires("core.view_event")
def event_list(request: HttpRequest) -> HttpResponse:
    """The audit log, filtered by actor, verb, object and time with the API's filterset."""
    filterset = EventFilterSet(request.GET, queryset=_events())
    # The kinds of object events can name: the apps' models, read from the content types
    # (a DISTINCT over the events themselves would scan the whole log on every page).
    object_types = (
        ContentType.objects.filter(app_label__in=(*READ_APPS, "auth"))
        .order_by("model")
        .values_list("model", flat=True)
        .distinct()
    )
    return list_page(
        request,
        filterset=filterset,
        orderings=EVENT_ORDERINGS,
        template="core/event_list.html",
        partial="core/partials/event_table.html",
        extra={
            "actor_kinds": Event.ActorKind.choices,
            "object_types": list(object_types),
        },
        columns=EVENT_COLUMNS,
        export="event-log-export",
    )


event_list_export = export_view(
    permission="core.view_event",
    filterset=EventFilterSet,
    rows=_events,
    orderings=EVENT_ORDERINGS,
    columns=EVENT_COLUMNS,
    name="events",
)


@requires()
def search(request: HttpRequest) -> HttpResponse:
    """The navbar's search: one exact hit (a MAC, an IP, a hostname, #12) opens it; else the
    hits by kind, from what the user may read."""
    query = request.GET.get("q", "")[:200]
    hits = search_everything(query, request.user)
    exact = [hit for hit in hits if hit.exact]
    if len(exact) == 1 and request.GET.get("list") != "1":
        return redirect(exact[0].url)
    kinds: dict[str, list[SearchHit]] = {}
    for hit in hits:
        kinds.setdefault(hit.kind, []).append(hit)
    return render(request, "core/search.html", {"query": query, "kinds": kinds})

"""Dashboard pages of the inventory: thin views over selectors, filtersets and services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required, permission_required
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from inventory import filtersets, selectors, services
from inventory.importers.csv_import import CSVImportError, machines_import_csv
from inventory.models import Machine, Rack
from inventory.states import MACHINE_LIFECYCLE, MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.statemachine import TransitionError

PAGE_SIZE = 50


def _list_page(
    request: HttpRequest,
    *,
    filterset: Any,
    template: str,
    partial: str,
    extra: dict[str, Any] | None = None,
) -> HttpResponse:
    queryset: QuerySet = filterset.qs
    ordering = request.GET.get("ordering")
    if ordering and ordering.lstrip("-") in getattr(filterset, "orderable", ()):
        queryset = queryset.order_by(ordering)
    page = Paginator(queryset, PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {"filter": filterset, "page": page, "querystring": query.urlencode(), **(extra or {})}
    # HTMX requests (filter form changes) get only the table.
    return render(request, partial if request.htmx else template, context)  # type: ignore[attr-defined]


@login_required
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "counts": selectors.machine_counts_by_state(),
        "sites": selectors.site_list(),
        "recent_events": selectors.recent_events(limit=15),
    }
    return render(request, "inventory/home.html", context)


@login_required
def site_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.SiteFilterSet(request.GET, queryset=selectors.site_list())
    filterset.orderable = ("name", "slug")
    return _list_page(
        request,
        filterset=filterset,
        template="inventory/site_list.html",
        partial="inventory/partials/site_table.html",
    )


@login_required
def rack_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.RackFilterSet(request.GET, queryset=selectors.rack_list())
    filterset.orderable = ("name", "site__name", "u_height")
    return _list_page(
        request,
        filterset=filterset,
        template="inventory/rack_list.html",
        partial="inventory/partials/rack_table.html",
    )


@login_required
def rack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rack = get_object_or_404(Rack.objects.select_related("site"), pk=pk)
    context = {
        "rack": rack,
        "elevation": selectors.rack_elevation(rack),
        "unracked": rack.machines.filter(position__isnull=True),
    }
    return render(request, "inventory/rack_detail.html", context)


@login_required
def machine_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.MachineFilterSet(request.GET, queryset=selectors.machine_list())
    filterset.orderable = ("hostname", "state", "rack__name", "position", "last_seen")
    return _list_page(
        request,
        filterset=filterset,
        template="inventory/machine_list.html",
        partial="inventory/partials/machine_table.html",
    )


@login_required
def machine_detail(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(selectors.machine_list(), pk=pk)
    context = {
        "machine": machine,
        "events": selectors.machine_events(machine),
        "next_states": sorted(MACHINE_LIFECYCLE.allowed_from(machine.state)),
        "state_labels": dict(MachineState.choices),
    }
    return render(request, "inventory/machine_detail.html", context)


@require_POST
@login_required
@permission_required("inventory.change_machine", raise_exception=True)
def machine_transition(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(Machine, pk=pk)
    try:
        services.machine_transition(
            machine=machine,
            actor=Actor.for_user(request.user),
            target=request.POST.get("state", ""),
            reason=request.POST.get("reason", ""),
        )
        messages.success(request, f"{machine.hostname} is now {request.POST.get('state')}.")
    except TransitionError as exc:
        messages.error(request, str(exc))
    return redirect("dashboard:machine-detail", pk=pk)


@login_required
@permission_required("inventory.add_machine", raise_exception=True)
def machine_import(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {}
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
        text = text or request.POST.get("csv", "")
        try:
            created = machines_import_csv(text=text, actor=Actor.for_user(request.user))
        except CSVImportError as exc:
            context["errors"] = exc.errors
            context["csv"] = text
        except ValidationError as exc:
            context["errors"] = [{"row": None, "field": None, "message": m} for m in exc.messages]
            context["csv"] = text
        else:
            messages.success(request, f"Imported {len(created)} machines.")
            return redirect("dashboard:machine-list")
    return render(request, "inventory/machine_import.html", context)

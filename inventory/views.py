"""Dashboard pages of the inventory: thin views over selectors, filtersets and services."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from inventory import filtersets, selectors, services
from inventory.importers.csv_import import (
    KNOWN_COLUMNS,
    REQUIRED_COLUMNS,
    CSVImportError,
    machines_import_csv,
)
from inventory.list_columns import MACHINE_COLUMNS
from inventory.models import BMC, Machine, Rack, Site, Tag
from inventory.power import views as power_views
from inventory.states import MACHINE_LIFECYCLE, MachineState
from inventory.views_bulk import may_select_machines
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.listing import list_page
from rackpilot.core.overview import overview_sections
from rackpilot.core.statemachine import TransitionError

# ``?ordering=<key>`` (or ``-<key>``) sorts by these fields; the primary key comes last so
# pages never share or skip rows when the sort key has duplicates.
SITE_ORDERINGS = {"name": ("name",), "racks": ("rack_count",), "machines": ("machine_count",)}
RACK_ORDERINGS = {
    "name": ("name",),
    "site": ("site__name", "name"),
    "u_height": ("u_height",),
    "machines": ("machine_count",),
}
MACHINE_ORDERINGS = {
    "hostname": ("hostname",),
    "state": ("state", "hostname"),
    "site": ("rack__site__name", "rack__name", "position"),
    "rack": ("rack__name", "position"),
    "position": ("position",),
    "arch": ("arch", "hostname"),
    "last_seen": ("last_seen",),
}


@requires("inventory.view_machine")
def home(request: HttpRequest) -> HttpResponse:
    context = {
        "live_sections": overview_sections(request, live=True),
        "sections": overview_sections(request, live=False),
    }
    return render(request, "inventory/home.html", context)


@requires("inventory.view_machine")
def overview_live(request: HttpRequest) -> HttpResponse:
    """The overview's counters alone, fetched again by the page as events arrive."""
    context = {"live_sections": overview_sections(request, live=True)}
    return render(request, "inventory/partials/overview_live.html", context)


@requires("inventory.view_site")
def site_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.SiteFilterSet(request.GET, queryset=selectors.site_list())
    return list_page(
        request,
        filterset=filterset,
        orderings=SITE_ORDERINGS,
        template="inventory/site_list.html",
        partial="inventory/partials/site_table.html",
    )


@requires("inventory.view_rack")
def rack_list(request: HttpRequest) -> HttpResponse:
    # Units taken by placed machines, for the utilisation bar. Same join as machine_count,
    # so the two aggregates do not multiply each other.
    racks = selectors.rack_list().annotate(
        used_units=Sum("machines__u_height", filter=Q(machines__position__isnull=False))
    )
    filterset = filtersets.RackFilterSet(request.GET, queryset=racks)
    return list_page(
        request,
        filterset=filterset,
        orderings=RACK_ORDERINGS,
        template="inventory/rack_list.html",
        partial="inventory/partials/rack_table.html",
        extra={"sites": Site.objects.only("name", "slug")},
    )


@requires("inventory.view_rack")
def rack_detail(request: HttpRequest, pk: int) -> HttpResponse:
    rack = get_object_or_404(Rack.objects.select_related("site"), pk=pk)
    elevation = selectors.rack_elevation(rack)
    placed = [row["machine"] for row in elevation if isinstance(row["machine"], Machine)]
    context = {
        "rack": rack,
        "elevation": elevation,
        "placed_count": len(placed),
        "used_units": sum(machine.u_height for machine in placed),
        "states": MachineState.choices,
        "unracked": rack.machines.filter(position__isnull=True).order_by("hostname"),
    }
    return render(request, "inventory/rack_detail.html", context)


@requires("inventory.view_machine")
def machine_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.MachineFilterSet(request.GET, queryset=selectors.machine_list())
    # Choices for the filter form; lazy, so table-only (HTMX) responses never query them.
    extra = {
        "states": MachineState.choices,
        "arches": Machine.Arch.choices,
        "power_states": BMC.PowerState.choices,
        "sites": Site.objects.only("name", "slug"),
        "racks": Rack.objects.select_related("site").only("name", "site__name"),
        "tags": Tag.objects.only("name", "slug"),
    }
    return list_page(
        request,
        filterset=filterset,
        orderings=MACHINE_ORDERINGS,
        template="inventory/machine_list.html",
        partial="inventory/partials/machine_table.html",
        extra={**extra, "selectable": may_select_machines(request.user)},
        columns=MACHINE_COLUMNS,
        export="dashboard:machine-list-export",
    )


RECENT_WORKFLOWS = 10


@requires("inventory.view_machine")
def machine_detail(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(selectors.machine_list(), pk=pk)
    allowed = MACHINE_LIFECYCLE.allowed_from(machine.state)
    context = {
        "machine": machine,
        "events": selectors.machine_events(machine),
        # In lifecycle order, so the buttons read left to right as the machine moves on.
        "next_states": [state for state in MachineState if state.value in allowed],
        "power": power_views.power_card(machine),
        "shared_addresses": selectors.shared_addresses(machine),
        # The workflows app's rows, by the reverse relation it declares (no import upwards).
        "workflows": machine.workflows.select_related("template").order_by("-created_at")[
            :RECENT_WORKFLOWS
        ],
        "workflow_count": machine.workflows.count(),
    }
    return render(request, "inventory/machine_detail.html", context)


@require_POST
@requires("inventory.change_machine")
def machine_transition(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(Machine, pk=pk)
    target = request.POST.get("state", "")
    try:
        services.machine_transition(
            machine=machine,
            actor=Actor.for_user(request.user),
            target=target,
            reason=request.POST.get("reason", ""),
        )
    except TransitionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"{machine.hostname} is now {MachineState(target).label}.")
    return redirect("dashboard:machine-detail", pk=pk)


@requires(access.IMPORT_MACHINES)
def machine_import(request: HttpRequest) -> HttpResponse:
    context: dict[str, Any] = {"known_columns": KNOWN_COLUMNS, "required": REQUIRED_COLUMNS}
    if request.method == "POST":
        upload = request.FILES.get("file")
        text = upload.read().decode("utf-8-sig", errors="replace") if upload else ""
        text = text or request.POST.get("csv", "")
        try:
            created = machines_import_csv(text=text, actor=Actor.for_user(request.user))
        except CSVImportError as exc:
            context.update(errors=exc.errors, csv=text)
        except ValidationError as exc:
            errors = [{"row": None, "field": None, "message": m} for m in exc.messages]
            context.update(errors=errors, csv=text)
        else:
            messages.success(request, f"Imported {len(created)} machines.")
            return redirect("dashboard:machine-list")
    return render(request, "inventory/machine_import.html", context)

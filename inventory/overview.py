"""The inventory's sections of the overview: machines by state and what needs an operator
(discovered machines waiting, BMCs that did not answer), sites, recent events."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from inventory import selectors
from inventory.models import BMC
from inventory.states import MachineState

RECENT_EVENTS = 15


def machines_context(request: HttpRequest) -> dict[str, Any]:
    counts = selectors.machine_counts_by_state()
    return {
        "state_counts": [(state, counts.get(state.value, 0)) for state in MachineState],
        "machine_total": sum(counts.values()),
        "discovered_waiting": counts.get(MachineState.DISCOVERED.value, 0),
        # Polled and found silent: "unknown" before the first poll is not an alarm.
        "bmcs_unreachable": BMC.objects.filter(
            power_state=BMC.PowerState.UNKNOWN, power_state_at__isnull=False
        ).count(),
    }


def sites_context(request: HttpRequest) -> dict[str, Any]:
    return {"sites": selectors.site_list()}


def events_context(request: HttpRequest) -> dict[str, Any]:
    return {"recent_events": selectors.recent_events(limit=RECENT_EVENTS)}


def register_sections() -> None:
    from rackpilot.core.overview import register_overview_section

    register_overview_section(
        name="machines",
        order=10,
        permission="inventory.view_machine",
        template="inventory/overview/machines.html",
        context=machines_context,
        live=True,
    )
    register_overview_section(
        name="sites",
        order=60,
        permission="inventory.view_site",
        template="inventory/overview/sites.html",
        context=sites_context,
    )
    register_overview_section(
        name="events",
        order=70,
        permission="core.view_event",
        template="inventory/overview/events.html",
        context=events_context,
    )

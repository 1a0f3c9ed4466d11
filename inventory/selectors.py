"""Reads of the inventory that need more than a one-liner (and keep query counts flat)."""

from __future__ import annotations

from django.db.models import Count, Prefetch, QuerySet

from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
from inventory.states import MachineState
from rackpilot.core.models import Event


def site_list() -> QuerySet[Site]:
    return Site.objects.annotate(
        rack_count=Count("racks", distinct=True), machine_count=Count("racks__machines")
    )


def rack_list() -> QuerySet[Rack]:
    return Rack.objects.select_related("site").annotate(machine_count=Count("machines"))


def machine_list() -> QuerySet[Machine]:
    return Machine.objects.select_related("rack__site", "bmc").prefetch_related(
        Prefetch(
            "interfaces", queryset=NetworkInterface.objects.order_by("-is_boot", "name", "mac")
        ),
        Prefetch("disks", queryset=Disk.objects.order_by("device")),
        Prefetch("tags", queryset=Tag.objects.order_by("name")),
    )


def interface_list() -> QuerySet[NetworkInterface]:
    return NetworkInterface.objects.select_related("machine")


def disk_list() -> QuerySet[Disk]:
    return Disk.objects.select_related("machine")


def bmc_list() -> QuerySet[BMC]:
    return BMC.objects.select_related("machine")


def machine_events(machine: Machine, *, limit: int = 100) -> QuerySet[Event]:
    return machine.events.select_related("content_type").order_by("-timestamp", "-id")[:limit]


def recent_events(*, limit: int = 20) -> QuerySet[Event]:
    return Event.objects.select_related("content_type", "machine").order_by("-timestamp", "-id")[
        :limit
    ]


def machine_counts_by_state() -> dict[str, int]:
    counts = {state.value: 0 for state in MachineState}
    for row in Machine.objects.values("state").annotate(n=Count("id")).order_by():
        counts[row["state"]] = row["n"]
    return counts


def rack_elevation(rack: Rack) -> list[dict[str, object]]:
    """Rack units top to bottom, each with the machine starting there (or None), for drawing."""
    machines = {m.position: m for m in rack.machines.filter(position__isnull=False)}
    covered: set[int] = set()
    units: list[dict[str, object]] = []
    for unit in range(rack.u_height, 0, -1):
        starting = None
        for position, machine in machines.items():
            if position + machine.u_height - 1 == unit:
                starting = machine
        if starting is not None:
            covered.update(range(starting.position or 0, unit + 1))
            units.append({"unit": unit, "machine": starting, "span": starting.u_height})
        elif unit not in covered:
            units.append({"unit": unit, "machine": None, "span": 1})
    return units

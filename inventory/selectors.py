"""Reads of the inventory that need more than a one-liner (and keep query counts flat)."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Prefetch, Q, QuerySet

from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
from inventory.states import MachineState
from rackpilot.core.models import Event
from rackpilot.core.selectors import counts_by_state


def site_list() -> QuerySet[Site]:
    return Site.objects.annotate(
        rack_count=Count("racks", distinct=True), machine_count=Count("racks__machines")
    ).order_by("name")


def rack_list() -> QuerySet[Rack]:
    return (
        Rack.objects.select_related("site")
        .annotate(machine_count=Count("machines"))
        .order_by("site__name", "name")
    )


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
    return counts_by_state(Machine.objects.all(), MachineState.values)


def rack_elevation(rack: Rack) -> list[dict[str, object]]:
    """Rack units top to bottom, for drawing: a row per machine (spanning its height) or per
    empty unit. Half-depth machines sharing a unit on opposite faces show the front one."""
    return elevation_rows(rack.u_height, rack.machines.filter(position__isnull=False))


def elevation_rows(u_height: int, placed: Iterable[Machine]) -> list[dict[str, object]]:
    """The elevation of a rack ``u_height`` units tall holding the ``placed`` machines."""
    by_top: dict[int, Machine] = {}
    for placed_machine in sorted(placed, key=lambda m: m.face):
        by_top.setdefault(
            (placed_machine.position or 0) + placed_machine.u_height - 1, placed_machine
        )
    units: list[dict[str, object]] = []
    unit = u_height
    while unit >= 1:
        machine = by_top.get(unit)
        if machine is None:
            units.append({"unit": unit, "machine": None, "span": 1})
            unit -= 1
        else:
            units.append({"unit": unit, "machine": machine, "span": machine.u_height})
            unit -= machine.u_height
    return units


def site_elevations(site: Site) -> list[tuple[Rack, list[dict[str, object]]]]:
    """Each rack of ``site`` with its elevation, in two queries whatever the number of racks."""
    racks = list(
        site.racks.annotate(
            unplaced_count=Count("machines", filter=Q(machines__position=None))
        ).order_by("name")
    )
    placed: dict[int, list[Machine]] = {rack.pk: [] for rack in racks}
    machines = Machine.objects.filter(rack__site=site, position__isnull=False).only(
        "hostname", "state", "rack", "position", "u_height", "face", "full_depth"
    )
    for machine in machines:
        placed[machine.rack_id or 0].append(machine)
    return [(rack, elevation_rows(rack.u_height, placed[rack.pk])) for rack in racks]


def shared_addresses(machine: Machine) -> list[tuple[str, list[str]]]:
    """(IP, other machines' hostnames) for each of ``machine``'s addresses another machine also
    holds: netboot and metadata answer 404 for such an address."""
    ips = [i.ip for i in machine.interfaces.all() if i.ip]
    if not ips:
        return []
    others: dict[str, set[str]] = {}
    rows = (
        NetworkInterface.objects.filter(ip__in=ips)
        .exclude(machine=machine)
        .values_list("ip", "machine__hostname")
    )
    for ip, hostname in rows:
        others.setdefault(str(ip), set()).add(hostname)
    return [(ip, sorted(names)) for ip, names in sorted(others.items())]

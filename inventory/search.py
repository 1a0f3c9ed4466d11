"""What the global search finds in the inventory: machines by hostname, serial, MAC or IP, and
racks by name."""

from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.urls import reverse

from inventory.fields import normalize_mac
from inventory.models import Machine, NetworkInterface, Rack
from rackpilot.core.search import SearchHit


def _mac(query: str) -> str | None:
    try:
        return normalize_mac(query)
    except ValidationError:
        return None


def _ip(query: str) -> str | None:
    try:
        return str(ipaddress.ip_address(query))
    except ValueError:
        return None


def _machine_hit(machine: Machine, detail: str, *, exact: bool) -> SearchHit:
    return SearchHit(
        kind="Machine",
        label=machine.hostname,
        url=reverse("dashboard:machine-detail", args=[machine.pk]),
        detail=detail or machine.get_state_display(),
        exact=exact,
    )


def search_machines(query: str, limit: int) -> list[SearchHit]:
    mac, ip = _mac(query), _ip(query)
    if mac or ip:
        nics = NetworkInterface.objects.select_related("machine")
        found = nics.filter(mac=mac) if mac else nics.filter(ip=ip)
        return [
            _machine_hit(nic.machine, f"{mac or ip} on {nic.name or 'an interface'}", exact=True)
            for nic in found.order_by("machine__hostname")[:limit]
        ]
    hits: list[SearchHit] = []
    machines = Machine.objects.filter(
        Q(hostname__icontains=query) | Q(serial_number__icontains=query)
    ).order_by("hostname")
    for machine in machines[:limit]:
        exact = query.lower() in (machine.hostname.lower(), machine.serial_number.lower())
        detail = (
            f"serial {machine.serial_number}"
            if query.lower() in machine.serial_number.lower()
            else ""
        )
        hits.append(_machine_hit(machine, detail, exact=exact))
    if len(query) >= 4 and all(c in "0123456789abcdefABCDEF:-." for c in query):
        # Part of a MAC: the interfaces whose address holds it.
        partial = query.lower().replace("-", ":")
        nics = NetworkInterface.objects.select_related("machine").filter(mac__contains=partial)
        hits += [
            _machine_hit(nic.machine, f"{nic.mac} on {nic.name or 'an interface'}", exact=False)
            for nic in nics.order_by("mac")[: max(limit - len(hits), 0)]
        ]
    return hits


def search_racks(query: str, limit: int) -> list[SearchHit]:
    racks = Rack.objects.select_related("site").filter(name__icontains=query).order_by("name")
    return [
        SearchHit(
            kind="Rack",
            label=rack.name,
            url=reverse("dashboard:rack-detail", args=[rack.pk]),
            detail=rack.site.name,
            exact=rack.name.lower() == query.lower(),
        )
        for rack in racks[:limit]
    ]

"""Reads for netboot: one query finds the interface, its machine and the machine's site."""

from __future__ import annotations

from django.db.models import QuerySet

from builds.models import Build, BuildArtifact
from builds.states import BuildState
from inventory.models import Machine, NetworkInterface
from inventory.states import MachineState
from netboot.models import DiscoveryRule


def _interfaces() -> QuerySet[NetworkInterface]:
    return NetworkInterface.objects.select_related("machine__rack__site")


def interface_by_mac(mac: str) -> NetworkInterface | None:
    """``mac`` is already normalised (lower-case, colons)."""
    return _interfaces().filter(mac=mac).first()


def interface_by_ip(ip: str) -> NetworkInterface | None:
    """The interface holding ``ip``; a boot interface wins if addresses are shared."""
    return _interfaces().filter(ip=ip).order_by("-is_boot", "pk").first()


def interface_by_ip_with_tags(ip: str) -> NetworkInterface | None:
    """As ``interface_by_ip``, with the machine's tags prefetched (the metadata lists them)."""
    return (
        _interfaces()
        .prefetch_related("machine__tags")
        .filter(ip=ip)
        .order_by("-is_boot", "pk")
        .first()
    )


def default_build(arch: str) -> tuple[Build, set[str]] | None:
    """The default successful build for ``arch`` and the names of its artifacts."""
    rows = list(
        BuildArtifact.objects.filter(
            build__arch=arch, build__is_default=True, build__state=BuildState.SUCCESS
        ).select_related("build")
    )
    if not rows:
        build = Build.objects.filter(arch=arch, is_default=True, state=BuildState.SUCCESS).first()
        return (build, set()) if build is not None else None
    return rows[0].build, {row.name for row in rows}


def discovery_rule_list() -> QuerySet[DiscoveryRule]:
    return DiscoveryRule.objects.select_related("template")


def discovered_machines() -> QuerySet[Machine]:
    """Machines discovery enrolled and nobody has accepted yet, newest first."""
    return (
        Machine.objects.filter(state=MachineState.DISCOVERED)
        .prefetch_related("interfaces", "disks")
        .order_by("-created_at", "pk")
    )

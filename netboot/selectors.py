"""Reads for netboot: one query finds the interface, its machine and the machine's site."""

from __future__ import annotations

from django.db.models import Q, QuerySet

from builds.models import Build, BuildArtifact
from builds.states import BuildState
from inventory.models import Machine, NetworkInterface
from inventory.states import MachineState
from netboot.models import DiscoveryRule
from workflows.models import Workflow
from workflows.states import WORKFLOW_UNFINISHED


def _interfaces() -> QuerySet[NetworkInterface]:
    return NetworkInterface.objects.select_related("machine__rack__site")


def interface_by_mac(mac: str) -> NetworkInterface | None:
    """``mac`` is already normalised (lower-case, colons)."""
    return _interfaces().filter(mac=mac).first()


class AmbiguousAddress(Exception):
    """Interfaces of more than one machine hold the address: answering for it would hand one
    machine's script, user-data or metadata to another."""

    def __init__(self, ip: str, hostnames: list[str]):
        self.ip, self.hostnames = ip, hostnames
        super().__init__(
            f"IP {ip} is on interfaces of {len(hostnames)} machines ({', '.join(hostnames)}): "
            "fix the inventory so that one machine holds it"
        )


def _one_machines(interfaces: QuerySet[NetworkInterface], ip: str) -> NetworkInterface | None:
    found = list(interfaces.filter(ip=ip).order_by("-is_boot", "pk")[:20])
    machines = {interface.machine_id: interface.machine.hostname for interface in found}
    if len(machines) > 1:
        raise AmbiguousAddress(ip, sorted(machines.values()))
    return found[0] if found else None


def interface_by_ip(ip: str) -> NetworkInterface | None:
    """The interface holding ``ip`` (a boot interface first, when one machine has it twice);
    raises AmbiguousAddress when interfaces of several machines hold it."""
    return _one_machines(_interfaces(), ip)


def interface_by_ip_with_tags(ip: str) -> NetworkInterface | None:
    """As ``interface_by_ip``, with the machine's tags prefetched (the metadata lists them)."""
    return _one_machines(_interfaces().prefetch_related("machine__tags"), ip)


def unfinished_workflow_of(machine: Machine) -> Workflow | None:
    """The oldest pending or running workflow with work for ``machine``: its own, or one whose
    tasks name one of its MACs as the worker."""
    macs = [interface.mac for interface in machine.interfaces.all()]
    return (
        Workflow.objects.filter(state__in=WORKFLOW_UNFINISHED)
        .filter(Q(machine=machine) | Q(tasks__worker__in=macs))
        .distinct()
        .order_by("created_at", "pk")
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

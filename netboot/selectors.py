"""Reads for netboot: one query finds the interface, its machine and the machine's site.

The script path is the hottest request Rackpilot serves (a whole rack powered on at once asks
at the same second), and building ORM queries cost more CPU than PostgreSQL spent answering
them: its two reads are plain SQL written once per process (`benchmarks/netboot.py` profiles).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from django.db import connection
from django.db.models import QuerySet

from builds.models import Build, BuildArtifact
from builds.selectors import servable_names
from builds.states import BuildState
from inventory.models import Machine, NetworkInterface, Rack, Site
from inventory.states import MachineState
from netboot.models import DiscoveryRule
from rackpilot.core.sql import hot_cursor
from workflows.models import Task, Workflow
from workflows.states import WORKFLOW_UNFINISHED


def _interfaces() -> QuerySet[NetworkInterface]:
    return NetworkInterface.objects.select_related("machine__rack__site")


# What a script depends on, read with the interface (``boot_interface_by_mac``), in the model's
# field order as Model.from_db expects a subset of them.
_SCRIPT_FIELDS = {"id", "hostname", "rack_id", "arch", "uefi", "state", "allow_pxe"}
_SCRIPT_FIELDS |= {"allow_workflow", "ipxe_url", "ipxe_script", "kernel_params", "metadata"}
_MACHINE_FIELDS = tuple(
    field.attname for field in Machine._meta.concrete_fields if field.attname in _SCRIPT_FIELDS
)
_BOOLEAN_FIELDS = ("uefi", "allow_pxe", "allow_workflow")
_METADATA: Any = Machine._meta.get_field("metadata")


def _servable_names_sql(arch_column: str) -> str:
    """``servable_names`` of the arch in ``arch_column``, as SQL (``'vmlinuz-' || m.arch``)."""
    mark = "\x00"
    names = []
    for name in sorted(servable_names(mark)):
        before, _, after = name.partition(mark)
        literals = [f"'{part}'" for part in (before, after) if part]
        names.append(" || ".join([literals[0], arch_column, *literals[1:]]))
    return ", ".join(names)


@functools.cache
def _boot_sql() -> str:
    workflow, task = Workflow._meta.db_table, Task._meta.db_table
    interface, machine = NetworkInterface._meta.db_table, Machine._meta.db_table
    rack, site = Rack._meta.db_table, Site._meta.db_table
    build, artifact = Build._meta.db_table, BuildArtifact._meta.db_table
    unfinished = ", ".join(f"'{state}'" for state in sorted(WORKFLOW_UNFINISHED))
    by_attname = {field.attname: field.column for field in Machine._meta.concrete_fields}
    columns = ", ".join(f"m.{by_attname[name]}" for name in _MACHINE_FIELDS)
    # The workflow: the machine's own, and those whose tasks name one of its MACs as the worker
    # (Tinkerbell's way): two index lookups rather than one OR over every unfinished workflow.
    # The default build of the machine's arch comes along, with how many of the files netboot
    # serves from it it has.
    return f"""
        SELECT {columns}, i.id, i.name, i.ip, i.vlan_id, i.is_boot,
               r.site_id, s.facility_code, b.id, b.kind,
               (SELECT COUNT(*) FROM {artifact} a
                WHERE a.build_id = b.id AND a.name IN ({_servable_names_sql("m.arch")})),
               (SELECT u.id FROM (
                    SELECT w.id, w.created_at FROM {workflow} w
                    WHERE w.machine_id = m.id AND w.state IN ({unfinished})
                    UNION
                    SELECT w.id, w.created_at FROM {workflow} w
                    JOIN {task} t ON t.workflow_id = w.id
                    JOIN {interface} o ON o.mac = t.worker
                    WHERE o.machine_id = m.id AND w.state IN ({unfinished})
                ) u ORDER BY u.created_at, u.id LIMIT 1)
        FROM {interface} i
        JOIN {machine} m ON m.id = i.machine_id
        LEFT JOIN {rack} r ON r.id = m.rack_id
        LEFT JOIN {site} s ON s.id = r.site_id
        LEFT JOIN {build} b
            ON b.arch = m.arch AND b.is_default = %s AND b.state = '{BuildState.SUCCESS}'
        WHERE i.mac = %s
    """


@dataclass(frozen=True)
class BootInterface:
    """The interface a machine netboots with and what its script depends on, read at once:
    ``workflow_id`` is the oldest pending or running workflow with work for the machine."""

    interface: NetworkInterface
    workflow_id: int | None
    # The id and kind of the default build of the machine's arch, if it has what netboot
    # serves (otherwise ``default_build`` tells what is missing).
    servable_build: tuple[int, str] | None = None

    @property
    def machine(self) -> Machine:
        return self.interface.machine


def boot_interface_by_mac(mac: str) -> BootInterface | None:
    """``mac`` is already normalised (lower-case, colons). One statement: the interface, its
    machine with rack and site (for the facility code) and the machine's unfinished workflow.
    The machine holds the fields a script depends on; any other is read when first used."""
    with hot_cursor() as cursor:
        cursor.execute(_boot_sql(), [True, mac])
        row = cursor.fetchone()
    if row is None:
        return None
    count = len(_MACHINE_FIELDS)
    values = dict(zip(_MACHINE_FIELDS, row[:count], strict=True))
    interface_id, name, ip, vlan_id, is_boot, site_id, facility_code = row[count : count + 7]
    build_id, build_kind, servable_files, workflow_id = row[count + 7 :]
    for field in _BOOLEAN_FIELDS:  # SQLite answers 0 and 1
        values[field] = bool(values[field])
    values["metadata"] = _METADATA.from_db_value(values["metadata"], None, connection)
    machine = Machine.from_db(connection.alias, list(values), list(values.values()))
    if machine.rack_id is not None:
        rack = Rack.from_db(connection.alias, ["id", "site_id"], [machine.rack_id, site_id])
        rack.site = Site.from_db(
            connection.alias, ["id", "facility_code"], [site_id, facility_code]
        )
        machine.rack = rack
    interface = NetworkInterface.from_db(
        connection.alias,
        ["id", "machine_id", "name", "mac", "ip", "vlan_id", "is_boot"],
        [interface_id, machine.pk, name, mac, ip, vlan_id, bool(is_boot)],
    )
    interface.machine = machine
    servable = build_id is not None and servable_files == len(servable_names(machine.arch))
    return BootInterface(
        interface=interface,
        workflow_id=workflow_id,
        servable_build=(build_id, build_kind) if servable else None,
    )


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


def boot_interface_by_ip(ip: str) -> BootInterface | None:
    """As ``boot_interface_by_mac`` for the interface holding ``ip``; raises AmbiguousAddress
    as ``interface_by_ip`` does."""
    # Only what the ambiguity check and the MAC need; the MAC's statement reads the rest.
    light = NetworkInterface.objects.select_related("machine").only(
        "mac", "is_boot", "machine__hostname"
    )
    interface = _one_machines(light, ip)
    return boot_interface_by_mac(interface.mac) if interface is not None else None


def interface_by_ip_with_tags(ip: str) -> NetworkInterface | None:
    """As ``interface_by_ip``, with the machine's tags prefetched (the metadata lists them)."""
    return _one_machines(_interfaces().prefetch_related("machine__tags"), ip)


@dataclass(frozen=True)
class DefaultBuild:
    pk: int
    kind: str
    names: frozenset[str]  # its artifacts


@functools.cache
def _default_build_sql() -> str:
    build, artifact = Build._meta.db_table, BuildArtifact._meta.db_table
    return f"""
        SELECT b.id, b.kind, a.name FROM {build} b
        LEFT JOIN {artifact} a ON a.build_id = b.id
        WHERE b.arch = %s AND b.is_default = %s AND b.state = %s
    """


def default_build(arch: str) -> DefaultBuild | None:
    """The default successful build for ``arch`` and the names of its artifacts."""
    with hot_cursor() as cursor:
        cursor.execute(_default_build_sql(), [arch, True, BuildState.SUCCESS])
        rows = cursor.fetchall()
    if not rows:
        return None
    return DefaultBuild(
        pk=rows[0][0], kind=rows[0][1], names=frozenset(row[2] for row in rows if row[2])
    )


def discovery_rule_list() -> QuerySet[DiscoveryRule]:
    return DiscoveryRule.objects.select_related("template")


def discovered_machines() -> QuerySet[Machine]:
    """Machines discovery enrolled and nobody has accepted yet, newest first."""
    return (
        Machine.objects.filter(state=MachineState.DISCOVERED)
        .prefetch_related("interfaces", "disks")
        .order_by("-created_at", "pk")
    )

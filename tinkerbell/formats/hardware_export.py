"""Machines out of the inventory as Tinkerbell ``Hardware`` documents.

An exported document equals the imported one except for: key order; zero values, which Go's
``omitempty`` drops anyway (false, 0, "", empty lists and maps); MACs in lower-case colon form;
vlan_id always a string; ``status`` and the fields the API server sets (uid, resourceVersion,
managedFields, ...) are not kept; a missing arch is x86_64 and a missing lease_time is 86400 in
Rackpilot, and both stay missing on export until they are changed.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable
from typing import Any

from django.db.models import Prefetch, QuerySet

from inventory.models import Disk, Machine, NetworkInterface
from tinkerbell.formats.documents import API_VERSION, RESERVED_KEY, dump_documents
from tinkerbell.hardware_attributes import observed_attributes

_FOLLOW = object()  # no bookkeeping: the interface takes the machine's value


def _netboot_flags(machine_value: bool, stored: list[Any]) -> list[bool | None]:
    """Per-interface flags as imported, unless the machine's flag was changed since."""
    values = [machine_value if s is _FOLLOW else s for s in stored]
    if any(v is True for v in values) != machine_value:
        values = [machine_value] * len(values)
    return values


def _merge(generated: dict[str, Any], kept: dict[str, Any]) -> dict[str, Any]:
    merged = {}
    for key, value in generated.items():
        extra = kept.get(key)
        if isinstance(value, dict) and isinstance(extra, dict):
            value = _merge(value, extra)
        merged[key] = value
    merged.update({k: copy.deepcopy(v) for k, v in kept.items() if k not in generated})
    return merged


def _interface_document(
    machine: Machine,
    nic: NetworkInterface,
    record: dict[str, Any] | None,
    *,
    allow_pxe: bool | None,
    allow_workflow: bool | None,
    ipxe_here: bool,
) -> dict[str, Any]:
    follow = record.get("follow", []) if record is not None else ["arch", "uefi"]
    defaults = record.get("defaults", {}) if record is not None else {}

    def shown(key: str, value: Any) -> bool:
        if record is None or key in follow:
            return bool(value)
        return key in defaults and defaults[key] != value and bool(value)

    dhcp: dict[str, Any] = {"mac": nic.mac}
    if nic.hostname:
        dhcp["hostname"] = nic.hostname
    ip = {
        k: v
        for k, v in (("address", nic.ip), ("netmask", nic.netmask), ("gateway", nic.gateway))
        if v
    }
    if ip:
        dhcp["ip"] = ip
    if nic.lease_time and (defaults.get("lease_time") != nic.lease_time):
        dhcp["lease_time"] = nic.lease_time
    for key, values in (("name_servers", nic.nameservers), ("time_servers", nic.timeservers)):
        if values:
            dhcp[key] = list(values)
    if shown("arch", machine.arch):
        dhcp["arch"] = machine.arch
    if shown("uefi", machine.uefi):
        dhcp["uefi"] = True
    if nic.name:
        dhcp["iface_name"] = nic.name
    if nic.vlan_id is not None:
        dhcp["vlan_id"] = str(nic.vlan_id)
    netboot: dict[str, Any] = {}
    if allow_pxe is not None:
        netboot["allowPXE"] = allow_pxe
    if allow_workflow is not None:
        netboot["allowWorkflow"] = allow_workflow
    ipxe = {"url": machine.ipxe_url, "contents": machine.ipxe_script} if ipxe_here else {}
    if any(ipxe.values()):
        netboot["ipxe"] = {k: v for k, v in ipxe.items() if v}
    generated: dict[str, Any] = {"dhcp": dhcp}
    if netboot:
        generated["netboot"] = netboot
    if not nic.dhcp_enabled:
        generated["disableDhcp"] = True
    return _merge(generated, record.get("residue", {}) if record is not None else {})


def hardware_document(*, machine: Machine) -> dict[str, Any]:
    """The Hardware document of ``machine`` (prefetch interfaces and disks for many)."""
    metadata = copy.deepcopy(machine.metadata or {})
    book = metadata.pop(RESERVED_KEY, None) or {}
    records = {rec["mac"]: rec for rec in book.get("interfaces", [])}
    order = {mac: index for index, mac in enumerate(records)}
    nics = sorted(
        machine.interfaces.all(),
        key=lambda n: (order.get(n.mac, len(order)), not n.is_boot, n.name, n.mac),
    )
    stored = [records.get(n.mac) for n in nics]
    pxe = _netboot_flags(
        machine.allow_pxe, [_FOLLOW if r is None else r.get("allow_pxe") for r in stored]
    )
    workflow = _netboot_flags(
        machine.allow_workflow, [_FOLLOW if r is None else r.get("allow_workflow") for r in stored]
    )
    ipxe_at = next((i for i, rec in enumerate(stored) if rec and rec.get("ipxe")), 0)
    interfaces = [
        _interface_document(
            machine, nic, rec, allow_pxe=pxe[i], allow_workflow=workflow[i], ipxe_here=i == ipxe_at
        )
        for i, (nic, rec) in enumerate(zip(nics, stored, strict=True))
    ]
    devices = {disk.device for disk in machine.disks.all()}
    disks = [rec for rec in book.get("disks", []) if rec.get("device") in devices]
    disks += [{"device": d} for d in sorted(devices - {rec["device"] for rec in disks})]
    spec: dict[str, Any] = {"interfaces": interfaces} if interfaces else {}
    if disks:
        spec["disks"] = disks
    if metadata:
        spec["metadata"] = metadata
    if machine.user_data:
        spec["userData"] = machine.user_data
    if machine.vendor_data:
        spec["vendorData"] = machine.vendor_data
    document: dict[str, Any] = {
        "apiVersion": API_VERSION,
        "kind": "Hardware",
        "metadata": {"name": machine.hostname, **book.get("object", {})},
        "spec": _merge(spec, book.get("spec", {})),
    }
    document = _merge(document, book.get("top", {}))
    bmc = getattr(machine, "bmc", None)
    observed = observed_attributes(
        hardware=machine.hardware,
        inventory=bmc.inventory if bmc is not None else None,
        inventory_at=bmc.inventory_at if bmc is not None else None,
    )
    if observed:
        # What Rackpilot saw replaces the imported document's subtree of the same source.
        status: dict[str, Any] = _mapping(document.get("status"))
        attributes = {**_mapping(status.get("attributes")), **observed}
        document["status"] = {**status, "attributes": attributes}
    return document


def _mapping(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def hardware_export_queryset() -> QuerySet[Machine]:
    return (
        Machine.objects.order_by("hostname")
        .select_related("bmc")
        .prefetch_related(
            Prefetch(
                "interfaces", queryset=NetworkInterface.objects.order_by("-is_boot", "name", "mac")
            ),
            Prefetch("disks", queryset=Disk.objects.order_by("device")),
        )
    )


def export_documents(*, machines: Iterable[Machine]) -> str:
    """Multi-document YAML with one Hardware per machine."""
    return dump_documents(hardware_document(machine=m) for m in machines)

"""Tinkerbell ``Hardware`` documents into the inventory: read, check, match, apply.

Hardware fields with a column in the inventory:
  metadata.name                          Machine.hostname (match key; then any interface MAC)
  spec.interfaces[0].dhcp.arch / uefi    Machine.arch / uefi
  spec.interfaces[*].netboot.allowPXE    Machine.allow_pxe (true if any interface allows it)
  spec.interfaces[*].netboot.allowWorkflow  Machine.allow_workflow (likewise)
  the first netboot.ipxe with url/contents  Machine.ipxe_url / ipxe_script
  spec.metadata                          Machine.metadata
  spec.userData / spec.vendorData        Machine.user_data / vendor_data
  spec.interfaces[i].dhcp                NetworkInterface: mac, iface_name -> name, ip.address,
                                         ip.netmask, ip.gateway, hostname, lease_time,
                                         name_servers, time_servers, vlan_id (an int here);
                                         dhcp_enabled = not disableDhcp; is_boot = (i == 0)
  spec.disks[].device                    Disk.device
  spec.references                        kept as written; the Secret/ConfigMap each one names, when
                                         the same import has it, kept for templates (references.py)
Everything else (namespace, labels, annotations, bmcRef, tinkVersion, resources, osie, ip.family,
per-interface netboot flags, the order of interfaces and disks, fields of newer Tinkerbell
releases) is kept in ``Machine.metadata["_tinkerbell"]`` so that export gives the document back.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError

from inventory import services
from inventory.models import Disk, Machine, NetworkInterface
from rackpilot.core.actors import Actor
from tinkerbell.formats.documents import (
    API_VERSION,
    KNOWN_KEYS,
    LAST_APPLIED,
    RESERVED_KEY,
    SERVER_FIELDS,
    Document,
    DocumentProblems,
    ImportContext,
    ImportedObject,
    Step,
    _Reader,
    register_kind,
)
from tinkerbell.formats.hardware_export import hardware_document
from tinkerbell.formats.references import REFERENCE_DATA, namespace_of, resolve_references

DEFAULT_ARCH = Machine.Arch.X86_64.value
DEFAULT_LEASE_TIME = NetworkInterface._meta.get_field("lease_time").default


@dataclass
class _NicPlan:
    path: str
    mac: str
    values: dict[str, Any]


@dataclass
class _HardwarePlan:
    doc: Document
    machine: dict[str, Any]
    nics: list[_NicPlan]
    disks: list[tuple[str, str]]  # (path, device)
    ipxe_path: str = ""
    target: Machine | None = None


def _read_addressing(
    r: _Reader, dhcp: dict[str, Any], p: str, defaults: dict[str, Any]
) -> dict[str, Any]:
    """An interface's name, hostname, address, DNS/NTP servers, lease time and VLAN."""
    values: dict[str, Any] = {}
    for key, name in (("iface_name", "name"), ("hostname", "hostname")):
        values[name] = r.clean(
            NetworkInterface, name, r.take(dhcp, key, f"{p}.{key}", str) or "", f"{p}.{key}"
        )
    ip = r.take(dhcp, "ip", f"{p}.ip", dict) or {}
    r.unknown(ip, "ip", f"{p}.ip")
    for key, name in (("address", "ip"), ("netmask", "netmask"), ("gateway", "gateway")):
        value = r.take(ip, key, f"{p}.ip.{key}", str)
        values[name] = r.clean(NetworkInterface, name, value, f"{p}.ip.{key}") if value else None
    if ip:
        dhcp["ip"] = ip
    for key, name in (("name_servers", "nameservers"), ("time_servers", "timeservers")):
        listed = r.take(dhcp, key, f"{p}.{key}", list) or []
        values[name] = [r.ip(v, f"{p}.{key}[{i}]") for i, v in enumerate(listed)]
    lease_time = r.take(dhcp, "lease_time", f"{p}.lease_time", int)
    if lease_time is None:
        lease_time = defaults["lease_time"] = DEFAULT_LEASE_TIME
    values["lease_time"] = r.clean(NetworkInterface, "lease_time", lease_time, f"{p}.lease_time")
    vlan = dhcp.pop("vlan_id", None)
    if isinstance(vlan, bool) or (vlan is not None and not isinstance(vlan, str | int)):
        r.error(f"{p}.vlan_id", f"expected a string, got {vlan!r}")
    else:
        values["vlan_id"] = r.vlan(vlan, f"{p}.vlan_id")
    return values


def _read_arch_and_uefi(
    r: _Reader,
    dhcp: dict[str, Any],
    p: str,
    *,
    first: dict[str, Any] | None,
    machine: dict[str, Any],
    defaults: dict[str, Any],
    follow: list[str],
) -> None:
    # uefi: false and a missing uefi are the same to Tinkerbell (Go zero value), so both follow
    # the machine; a missing arch is not, so it is remembered as missing.
    if first is None:
        arch = r.take(dhcp, "arch", f"{p}.arch", str) or None
        if arch is None:
            defaults["arch"] = arch = DEFAULT_ARCH
        else:
            follow.append("arch")
        if arch not in Machine.Arch.values:
            r.error(f"{p}.arch", f"{arch!r} is not supported (use x86_64 or aarch64)")
        machine["arch"] = arch
        machine["uefi"] = bool(r.take(dhcp, "uefi", f"{p}.uefi", bool))
        follow.append("uefi")
    else:
        if dhcp.get("arch") and dhcp["arch"] == first.get("arch"):
            del dhcp["arch"]
            follow.append("arch")
        uefi = dhcp.get("uefi")
        if (uefi is None or isinstance(uefi, bool)) and bool(uefi) == bool(first.get("uefi")):
            dhcp.pop("uefi", None)
            follow.append("uefi")


def _read_netboot(
    r: _Reader,
    raw: dict[str, Any],
    path: str,
    *,
    take_ipxe: bool,
    record: dict[str, Any],
    machine: dict[str, Any],
) -> None:
    """allowPXE/allowWorkflow, and the first interface's iPXE override (the machine's)."""
    netboot = r.take(raw, "netboot", f"{path}.netboot", dict) or {}
    r.unknown(netboot, "netboot", f"{path}.netboot")
    for key, name in (("allowPXE", "allow_pxe"), ("allowWorkflow", "allow_workflow")):
        record[name] = r.take(netboot, key, f"{path}.netboot.{key}", bool)
    ipxe = netboot.get("ipxe")
    r.unknown(ipxe, "ipxe", f"{path}.netboot.ipxe")
    if ipxe is not None and not isinstance(ipxe, dict):
        r.error(f"{path}.netboot.ipxe", f"expected a mapping, got {ipxe!r}")
    elif take_ipxe and ipxe and (ipxe.get("url") or ipxe.get("contents")):
        machine["ipxe_url"] = r.take(ipxe, "url", f"{path}.netboot.ipxe.url", str) or ""
        machine["ipxe_script"] = (
            r.take(ipxe, "contents", f"{path}.netboot.ipxe.contents", str) or ""
        )
        record["ipxe"] = True
        if not ipxe:
            del netboot["ipxe"]
    if netboot:
        raw["netboot"] = netboot


def _read_interface(
    r: _Reader, raw: dict[str, Any], path: str, *, first: dict[str, Any] | None, take_ipxe: bool
) -> tuple[_NicPlan | None, dict[str, Any], dict[str, Any]]:
    """One ``spec.interfaces[i]``: its column values, its bookkeeping record and machine facts.

    ``first`` is None for the first interface (whose arch/uefi are the machine's), else the
    first interface's raw arch/uefi, which later interfaces usually repeat. Only the first
    iPXE override (``take_ipxe``) is the machine's; later ones stay as they are.
    """
    r.unknown(raw, "interface", path)
    record: dict[str, Any] = {}
    machine: dict[str, Any] = {}
    defaults: dict[str, Any] = {}
    follow: list[str] = []
    dhcp = r.take(raw, "dhcp", f"{path}.dhcp", dict, required=True) or {}
    p = f"{path}.dhcp"
    r.unknown(dhcp, "dhcp", p)
    mac = r.mac(r.take(dhcp, "mac", f"{p}.mac", str, required=True), f"{p}.mac")
    values: dict[str, Any] = {"is_boot": first is None}
    values.update(_read_addressing(r, dhcp, p, defaults))
    values["dhcp_enabled"] = not r.take(raw, "disableDhcp", f"{path}.disableDhcp", bool)
    _read_arch_and_uefi(r, dhcp, p, first=first, machine=machine, defaults=defaults, follow=follow)
    _read_netboot(r, raw, path, take_ipxe=take_ipxe, record=record, machine=machine)
    if dhcp:
        raw["dhcp"] = dhcp
    record.update(mac=mac, residue=raw, follow=follow, defaults=defaults)
    plan = _NicPlan(path=path, mac=mac, values=values) if mac else None
    return plan, {k: v for k, v in record.items() if v not in (None, [], {})}, machine


def _read_hardware(doc: Document, r: _Reader) -> _HardwarePlan:
    body = copy.deepcopy(doc.body)
    r.unknown(body, "document", "")
    object_meta = {k: v for k, v in body["metadata"].items() if k not in SERVER_FIELDS | {"name"}}
    annotations = object_meta.get("annotations")
    if isinstance(annotations, dict):
        annotations.pop(LAST_APPLIED, None)
        if not annotations:
            del object_meta["annotations"]
    spec = r.take(body, "spec", "spec", dict, required=True) or {}
    r.unknown(spec, "spec", "spec")
    top = {k: v for k, v in body.items() if k not in KNOWN_KEYS["document"]}
    machine: dict[str, Any] = {
        "hostname": r.clean(Machine, "hostname", doc.name, "metadata.name"),
        "ipxe_url": "",
        "ipxe_script": "",
    }
    plan = _HardwarePlan(doc=doc, machine=machine, nics=[], disks=[])
    # Optional, as in Tinkerbell's CRD: a machine without one is kept, but cannot netboot.
    raw_nics = r.take(spec, "interfaces", "spec.interfaces", list) or []
    records: list[dict[str, Any]] = []
    first: dict[str, Any] | None = None
    for index, raw in enumerate(raw_nics):
        path = f"spec.interfaces[{index}]"
        if not isinstance(raw, dict):
            r.error(path, f"expected a mapping, got {raw!r}")
            continue
        dhcp = raw.get("dhcp")
        facts = {key: dhcp.get(key) for key in ("arch", "uefi")} if isinstance(dhcp, dict) else {}
        nic, record, machine_facts = _read_interface(
            r, raw, path, first=first, take_ipxe=not plan.ipxe_path
        )
        first = facts if first is None else first
        if record.get("ipxe"):
            plan.ipxe_path = f"{path}.netboot.ipxe"
        machine.update(machine_facts)
        records.append(record)
        if nic is not None:
            plan.nics.append(nic)
    machine["allow_pxe"] = any(rec.get("allow_pxe") for rec in records)
    machine["allow_workflow"] = any(rec.get("allow_workflow") for rec in records)
    disk_records: list[dict[str, Any]] = []
    seen: dict[str, str] = {}
    for index, raw in enumerate(r.take(spec, "disks", "spec.disks", list) or []):
        path = f"spec.disks[{index}]"
        if not isinstance(raw, dict):
            r.error(path, f"expected a mapping, got {raw!r}")
            continue
        r.unknown(raw, "disk", path)
        device = r.take(raw, "device", f"{path}.device", str, required=True)
        device = r.clean(Disk, "device", device, f"{path}.device") if device else None
        if device in seen:
            r.error(f"{path}.device", f"{device} is already listed at {seen[device]}")
        elif device:
            seen[device] = path
            plan.disks.append((path, device))
            disk_records.append({"device": device, **raw})
    metadata = r.take(spec, "metadata", "spec.metadata", dict) or {}
    if RESERVED_KEY in metadata:
        r.error(f"spec.metadata.{RESERVED_KEY}", "this key is reserved by Rackpilot")
    machine["user_data"] = r.take(spec, "userData", "spec.userData", str) or ""
    machine["vendor_data"] = r.take(spec, "vendorData", "spec.vendorData", str) or ""
    book = {
        "top": top,
        "object": object_meta,
        "spec": spec,
        "interfaces": records,
        "disks": disk_records,
    }
    machine["metadata"] = {**metadata, RESERVED_KEY: {k: v for k, v in book.items() if v}}
    return plan


def _match_hardware(plan: _HardwarePlan, context: ImportContext, r: _Reader) -> None:
    """Find the machine the document describes and check nothing else claims its names."""
    doc, hostname = plan.doc, plan.machine["hostname"]
    target = Machine.objects.filter(hostname=hostname).first()
    holders = {
        nic.mac: nic
        for nic in NetworkInterface.objects.select_related("machine").filter(
            mac__in=[n.mac for n in plan.nics]
        )
    }
    if target is None:
        target = next((holders[n.mac].machine for n in plan.nics if n.mac in holders), None)
    for nic in plan.nics:
        holder = holders.get(nic.mac)
        if holder is not None and holder.machine_id != getattr(target, "pk", None):
            r.error(
                f"{nic.path}.dhcp.mac",
                f"{nic.mac} is already used by {holder.name or 'an interface'} of machine "
                f"{holder.machine.hostname}",
            )
        other = context.claim(("mac", nic.mac), doc, nic.path)
        if other:
            r.error(f"{nic.path}.dhcp.mac", f"{nic.mac} is also listed by {other}")
    other = context.claim(("Hardware", hostname), doc, "metadata.name")
    if other:
        r.error("metadata.name", f"{hostname!r} is also defined by {other}")
    elif target is not None:
        other = context.claim(("machine", target.pk), doc, "metadata.name")
        if other:
            r.error("metadata.name", f"matches machine {target.hostname}, as {other} does")
    plan.target = target


@contextmanager
def _reported_at(paths: dict[str, str], default: str) -> Iterator[None]:
    """A service's field errors, reported at the document's field paths."""
    try:
        yield
    except ValidationError as exc:
        if not hasattr(exc, "error_dict"):
            raise DocumentProblems([(default, m) for m in exc.messages]) from exc
        raise DocumentProblems(
            [(paths.get(f, default), m) for f, msgs in exc.message_dict.items() for m in msgs]
        ) from exc


NIC_PATHS = {
    "mac": "dhcp.mac",
    "name": "dhcp.iface_name",
    "ip": "dhcp.ip.address",
    "netmask": "dhcp.ip.netmask",
    "gateway": "dhcp.ip.gateway",
    "nameservers": "dhcp.name_servers",
    "timeservers": "dhcp.time_servers",
    "vlan_id": "dhcp.vlan_id",
    "hostname": "dhcp.hostname",
    "lease_time": "dhcp.lease_time",
    "dhcp_enabled": "disableDhcp",
}


def _apply_hardware(plan: _HardwarePlan, actor: Actor) -> ImportedObject:
    before = None if plan.target is None else hardware_document(machine=plan.target)
    first = "spec.interfaces[0].dhcp"
    paths = {
        "hostname": "metadata.name",
        "arch": f"{first}.arch",
        "uefi": f"{first}.uefi",
        "ipxe_url": f"{plan.ipxe_path}.url",
        "ipxe_script": f"{plan.ipxe_path}.contents",
        "metadata": "spec.metadata",
        "user_data": "spec.userData",
        "vendor_data": "spec.vendorData",
    }
    with _reported_at(paths, "metadata.name"):
        if plan.target is None:
            machine = services.machine_create(actor=actor, **plan.machine)
        else:
            machine = services.machine_update(machine=plan.target, actor=actor, **plan.machine)
    existing = {nic.mac: nic for nic in machine.interfaces.all()}
    wanted = {nic.mac for nic in plan.nics}
    for mac, dropped in existing.items():
        if mac not in wanted:
            services.interface_delete(interface=dropped, actor=actor)
    for nic in plan.nics:
        nic_paths = {name: f"{nic.path}.{sub}" for name, sub in NIC_PATHS.items()}
        with _reported_at(nic_paths, nic.path):
            if nic.mac in existing:
                services.interface_update(interface=existing[nic.mac], actor=actor, **nic.values)
            else:
                services.interface_create(machine=machine, actor=actor, mac=nic.mac, **nic.values)
    disks = {disk.device: disk for disk in machine.disks.all()}
    listed = {device for _, device in plan.disks}
    for device, disk in disks.items():
        if device not in listed:
            services.disk_delete(disk=disk, actor=actor)
    for path, device in plan.disks:
        if device not in disks:
            with _reported_at({}, f"{path}.device"):
                services.disk_create(machine=machine, actor=actor, device=device)
    if before is None:
        action = "created"
    else:
        # Judged on the document: a machine made in Rackpilot gains bookkeeping on its first
        # import, yet its Hardware is the same.
        action = "unchanged" if hardware_document(machine=machine) == before else "updated"
    return ImportedObject(kind="Hardware", name=machine.hostname, action=action)


class HardwareKind:
    kind = "Hardware"
    api_version = API_VERSION
    apply_order = 10

    def plan(self, doc: Document, context: ImportContext, warn: Callable[[str], None]) -> Step:
        reader = _Reader(warn)
        plan = _read_hardware(doc, reader)
        spec = doc.body.get("spec")
        references = resolve_references(
            spec.get("references") if isinstance(spec, dict) else None,
            namespace_of(doc),
            context,
            warn,
        )
        if references:
            plan.machine["metadata"][RESERVED_KEY][REFERENCE_DATA] = references
        if not plan.nics:
            warn("spec.interfaces: none; the machine is kept but cannot netboot without one")
        if not reader.problems:
            _match_hardware(plan, context, reader)
        if reader.problems:
            raise DocumentProblems(reader.problems)
        return partial(_apply_hardware, plan)


register_kind(HardwareKind())

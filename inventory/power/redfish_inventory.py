"""What a Redfish BMC says the machine is made of, in the shape of Rackpilot's hardware report.

The same shape the agents report (``cpu``, ``memory_bytes``, ``disks``, ``nics``, ``dmi``), so
the machine page, discovery rules and the template data read one shape whichever source
filled it, plus what only a BMC knows: ``cpu_sockets`` and ``memory_modules`` (per DIMM).
Each part is read where the BMC has it; a part it does not offer is left out, never guessed.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from sushy import exceptions as sushy_exceptions

GIB = 1024**3
MIB = 1024**2


def _text(value: Any) -> str:
    return str(value).strip() if value not in (None, "") else ""


def _compact(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value not in (None, "", [], {})}


def _optional(read: Callable[[], Any]) -> Any:
    """A part of the inventory the BMC may not offer (404, 400, missing link): None."""
    try:
        return read()
    except (sushy_exceptions.MissingAttributeError, sushy_exceptions.HTTPError):
        return None


def _members(collection: Any) -> list[Any]:
    return list(collection.get_members()) if collection is not None else []


def _cpus(system: Any) -> list[dict[str, Any]]:
    cpus = []
    for processor in _members(_optional(lambda: system.processors)):
        cpus.append(
            _compact(
                {
                    "slot": _text(processor.socket) or _text(processor.identity),
                    "vendor": _text(processor.manufacturer),
                    "model": _text(processor.model),
                    "cores": processor.total_cores,
                    "threads": processor.total_threads,
                    "speed_mhz": processor.max_speed_mhz,
                }
            )
        )
    return cpus


def _read_json(system: Any, path: str) -> Any:
    return system._conn.get(path=path).json()


def _memory_modules(system: Any) -> list[dict[str, Any]]:
    """sushy has no Memory resource: read the collection's JSON through its connection."""
    link = (system.json.get("Memory") or {}).get("@odata.id")
    if not link:
        return []
    collection = _optional(lambda: _read_json(system, link))
    modules = []
    for member in (collection or {}).get("Members") or []:
        path = str(member.get("@odata.id") or "")
        document = _optional(partial(_read_json, system, path)) or {}
        if (document.get("Status") or {}).get("State") == "Absent":
            continue
        capacity = document.get("CapacityMiB")
        modules.append(
            _compact(
                {
                    "slot": _text(document.get("DeviceLocator")) or _text(document.get("Id")),
                    "vendor": _text(document.get("Manufacturer")),
                    "serial_number": _text(document.get("SerialNumber")),
                    "part_number": _text(document.get("PartNumber")),
                    "size_bytes": int(capacity) * MIB if isinstance(capacity, int) else None,
                    "speed_mhz": document.get("OperatingSpeedMhz"),
                }
            )
        )
    return modules


def _nics(system: Any) -> list[dict[str, Any]]:
    nics = []
    for interface in _members(_optional(lambda: system.ethernet_interfaces)):
        mac = _text(interface.mac_address) or _text(interface.permanent_mac_address)
        nics.append(
            _compact(
                {
                    "name": _text(interface.identity),
                    "mac": mac.lower(),
                    "speed": interface.speed_mbps,
                    "physical": True,
                }
            )
        )
    return nics


def _disks(system: Any) -> list[dict[str, Any]]:
    disks = []
    for storage in _members(_optional(lambda: system.storage)):
        for drive in _optional(partial(getattr, storage, "drives")) or []:
            disks.append(
                _compact(
                    {
                        "name": _text(drive.name) or _text(drive.identity),
                        "model": _text(drive.model),
                        "vendor": _text(drive.manufacturer),
                        "serial_number": _text(drive.serial_number),
                        "size_bytes": drive.capacity_bytes,
                        "drive_type": _text(drive.media_type),
                        "controller_type": _text(drive.protocol),
                    }
                )
            )
    return disks


def read_inventory(system: Any) -> dict[str, Any]:
    """The inventory of one sushy ``System`` (refreshed by the caller)."""
    cpus = _cpus(system)
    cpu = _compact(
        {
            "sockets": len(cpus) or None,
            "cores": sum(c.get("cores") or 0 for c in cpus) or None,
            "threads": sum(c.get("threads") or 0 for c in cpus) or None,
            "model": cpus[0].get("model") if cpus else None,
            "vendor": cpus[0].get("vendor") if cpus else None,
        }
    )
    summary = _optional(lambda: system.memory_summary)
    size_gib = getattr(summary, "size_gib", None)
    dmi = _compact(
        {
            "sys_vendor": _text(system.manufacturer),
            "product_name": _text(system.model),
            "product_serial": _text(system.serial_number),
            "product_sku": _text(system.sku),
            "bios_version": _text(system.bios_version),
        }
    )
    return _compact(
        {
            "agent": "redfish",
            "cpu": cpu,
            "cpu_sockets": cpus,
            "memory_bytes": int(size_gib * GIB) if size_gib else None,
            "memory_modules": _memory_modules(system),
            "disks": _disks(system),
            "nics": _nics(system),
            "dmi": dmi,
        }
    )

"""``status.attributes`` of a Hardware, as Tinkerbell's hardware inventory writes it.

Tinkerbell keeps what it observed of a machine in two subtrees: ``outOfBand`` (read from the
BMC) and ``inBand`` (reported by the agent from the running Hook), each in one source-agnostic
shape (``cpu.sockets``, ``memory.modules``, ``blockDevices``, ``networkInterfaces`` with their
``ports``, ``bios``, ``product``...), empty parts left out. Rackpilot keeps both sources in
the shape of its own hardware report (``Machine.hardware`` from either agent, ``BMC.inventory``
from Redfish); this module turns one into the other, so templates read
``.hardware.status.attributes.outOfBand.product.vendor`` as they would in Tinkerbell, and
exported Hardware carries the same status.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

# What produced each subtree, as Tinkerbell names it ("agent" in-band, the BMC's protocol
# out-of-band).
IN_BAND_METHOD = "agent"


def _prune(value: Any) -> Any:
    """Drop empty strings, lists and maps, bottom-up (Tinkerbell's PruneEmpty)."""
    if isinstance(value, Mapping):
        pruned = {key: _prune(item) for key, item in value.items()}
        return {key: item for key, item in pruned.items() if item not in (None, "", [], {})}
    if isinstance(value, list):
        items = [_prune(item) for item in value]
        return [item for item in items if item not in (None, "", [], {})]
    return value


def _map(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _maps(value: Any) -> list[Mapping[str, Any]]:
    """The mappings of a list; anything else (a report is free-form) reads as none."""
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _number(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def _cpu(report: Mapping[str, Any]) -> dict[str, Any]:
    cpu = _map(report.get("cpu"))
    sockets = [
        {
            "slot": str(socket.get("slot") or ""),
            "vendor": _text(socket.get("vendor")),
            "model": _text(socket.get("model")),
            "cores": _number(socket.get("cores")),
            "threads": _number(socket.get("threads")),
            "clockSpeedMHz": _number(socket.get("speed_mhz")),
        }
        for socket in _maps(report.get("cpu_sockets"))
    ]
    if not sockets and (cpu.get("model") or cpu.get("vendor")):
        # One entry for what the agent saw: the model of the processors, not per socket.
        sockets = [{"vendor": _text(cpu.get("vendor")), "model": _text(cpu.get("model"))}]
    return {
        "totalCores": _number(cpu.get("cores")),
        "totalThreads": _number(cpu.get("threads")),
        "sockets": sockets,
    }


def _memory(report: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "totalBytes": _number(report.get("memory_bytes")),
        "modules": [
            {
                "slot": _text(module.get("slot")),
                "vendor": _text(module.get("vendor")),
                "serialNumber": _text(module.get("serial_number")),
                "partNumber": _text(module.get("part_number")),
                "sizeBytes": _number(module.get("size_bytes")),
                "speedMHz": _number(module.get("speed_mhz")),
            }
            for module in _maps(report.get("memory_modules"))
        ],
    }


def _block_device(disk: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "name": _text(disk.get("name")),
        "controllerType": _text(disk.get("controller_type")),
        "driveType": _text(disk.get("drive_type")),
        "vendor": _text(disk.get("vendor")),
        "model": _text(disk.get("model")),
        "serialNumber": _text(disk.get("serial_number")) or _text(disk.get("serial")),
        "wwn": _text(disk.get("wwn")),
        "sizeBytes": _number(disk.get("size_bytes")),
    }


def _network_interface(nic: Mapping[str, Any], *, in_band: bool) -> dict[str, Any]:
    port = {
        "mac": _text(nic.get("mac")),
        "speedMbps": _number(nic.get("speed_mbps") or nic.get("speed")),
        "enabledCapabilities": [c for c in nic.get("capabilities") or [] if isinstance(c, str)]
        if isinstance(nic.get("capabilities"), list)
        else [],
    }
    if not in_band:
        port["portID"] = _text(nic.get("name"))
    return {"name": _text(nic.get("name")) if in_band else "", "ports": [port]}


def _identity(dmi: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "product": {
            "name": _text(dmi.get("product_name")),
            "vendor": _text(dmi.get("sys_vendor")),
            "serialNumber": _text(dmi.get("product_serial")),
        },
        "baseboard": {
            "vendor": _text(dmi.get("board_vendor")),
            "model": _text(dmi.get("board_name")),
            "serialNumber": _text(dmi.get("board_serial")),
        },
        "bios": {
            "vendor": _text(dmi.get("bios_vendor")),
            "firmwareVersion": _text(dmi.get("bios_version")),
            "releaseDate": _text(dmi.get("bios_date")),
        },
        "chassis": {
            "vendor": _text(dmi.get("chassis_vendor")),
            "serialNumber": _text(dmi.get("chassis_serial")),
        },
    }


def _pci(parts: Any) -> list[dict[str, Any]]:
    return [
        {
            "vendor": _text(part.get("vendor")),
            "model": _text(part.get("product")),
            "class": _text(part.get("class")),
            "driver": _text(part.get("driver")),
        }
        for part in _maps(parts)
    ]


def attributes(
    report: Mapping[str, Any], *, method: str, at: datetime | None = None
) -> dict[str, Any]:
    """Tinkerbell's ``Attributes`` from a Rackpilot hardware report; {} for an empty one."""
    if not report:
        return {}
    in_band = method == IN_BAND_METHOD
    result: dict[str, Any] = {
        "lastUpdated": at.strftime("%Y-%m-%dT%H:%M:%SZ") if at is not None else None,
        "collectionMethod": method,
        "cpu": _cpu(report),
        "memory": _memory(report),
        "blockDevices": [_block_device(d) for d in _maps(report.get("disks"))],
        "networkInterfaces": [
            _network_interface(n, in_band=in_band) for n in _maps(report.get("nics"))
        ],
        "gpuDevices": _pci(report.get("gpu")),
        "pciDevices": _pci(report.get("pci")) if in_band else [],
        **_identity(_map(report.get("dmi"))),
    }
    return _prune(result)


def observed_attributes(
    *,
    hardware: Mapping[str, Any] | None,
    inventory: Mapping[str, Any] | None,
    inventory_at: datetime | None,
) -> dict[str, Any]:
    """``status.attributes``: ``outOfBand`` from the BMC's inventory, ``inBand`` from the agent's
    report; a subtree is there only when its source reported something."""
    observed = {}
    if inventory:
        method = str(inventory.get("agent") or "redfish")
        observed["outOfBand"] = attributes(inventory, method=method, at=inventory_at)
    if hardware:
        observed["inBand"] = attributes(hardware, method=IN_BAND_METHOD)
    return {key: value for key, value in observed.items() if value}

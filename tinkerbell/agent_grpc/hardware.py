"""tink-agent's ``AgentAttributes`` in the shape of Rackpilot's own hardware report.

The machine page, discovery rules and the template data read one shape (``cpu``, ``memory_bytes``,
``disks``, ``nics``, ``dmi``), whichever agent reported it. tink-agent's sizes are text
("8 GB", "17179869184", "512 B"): a size that does not parse is kept as text beside the shape,
never guessed.
"""

from __future__ import annotations

import re
from typing import Any

from tinkerbell.agent_grpc import workflow_pb2 as pb

_SIZE = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([KMGTP]?)(i?)B?\s*", re.IGNORECASE)
_UNITS = {"": 0, "K": 1, "M": 2, "G": 3, "T": 4, "P": 5}


def parse_size(text: str) -> int | None:
    """Bytes from ``17179869184``, ``16GB``, ``16 GiB`` or ``512 B``; None if it is not a size.
    ``GB`` and ``GiB`` both count in 1024s: the tools tink-agent reads print binary sizes."""
    match = _SIZE.fullmatch(text or "")
    if not match:
        return None
    number, unit, _ = match.groups()
    return int(float(number) * 1024 ** _UNITS[unit.upper()])


def _text_fields(message: Any, names: dict[str, str]) -> dict[str, str]:
    return {key: value for field, key in names.items() if (value := getattr(message, field))}


def _cpu(cpu: pb.CPU) -> dict[str, Any]:
    report: dict[str, Any] = {}
    if cpu.total_cores:
        report["cores"] = cpu.total_cores
    if cpu.total_threads:
        report["threads"] = cpu.total_threads
    if cpu.processors:
        report["sockets"] = len(cpu.processors)
        first = cpu.processors[0]
        report.update(_text_fields(first, {"model": "model", "vendor": "vendor"}))
    return report


def _disk(block: pb.Block) -> dict[str, Any]:
    disk: dict[str, Any] = {"name": block.name, "device": f"/dev/{block.name}"}
    size = parse_size(block.size)
    if size is not None:
        disk["size_bytes"] = size
    elif block.size:
        disk["size"] = block.size
    disk.update(
        _text_fields(
            block,
            {
                "model": "model",
                "serial_number": "serial",
                "vendor": "vendor",
                "wwn": "wwn",
                "controller_type": "controller",
                "drive_type": "drive_type",
            },
        )
    )
    if block.drive_type.upper() in {"HDD", "SSD"}:
        disk["rotational"] = block.drive_type.upper() == "HDD"
    return disk


def _nic(network: pb.Network) -> dict[str, Any]:
    nic: dict[str, Any] = {"name": network.name, "physical": True}
    if network.mac:
        nic["mac"] = network.mac.lower()
    if network.speed:
        nic["speed"] = network.speed
    if network.enabled_capabilities:
        nic["capabilities"] = list(network.enabled_capabilities)
    return nic


def hardware_report(attributes: pb.AgentAttributes) -> dict[str, Any]:
    """Rackpilot's hardware report from tink-agent's attributes; empty parts are left out."""
    report: dict[str, Any] = {"agent": "tink-agent"}
    if attributes.HasField("cpu"):
        report["cpu"] = _cpu(attributes.cpu)
    if attributes.HasField("memory"):
        total = parse_size(attributes.memory.total)
        if total is not None:
            report["memory_bytes"] = total
        elif attributes.memory.total:
            report["memory"] = attributes.memory.total
    if attributes.block:
        report["disks"] = [_disk(block) for block in attributes.block if block.name]
    if attributes.network:
        report["nics"] = [_nic(network) for network in attributes.network if network.name]
    dmi: dict[str, str] = {}
    dmi.update(
        _text_fields(
            attributes.product,
            {"vendor": "sys_vendor", "name": "product_name", "serial_number": "product_serial"},
        )
    )
    dmi.update(
        _text_fields(
            attributes.baseboard,
            {"vendor": "board_vendor", "product": "board_name", "serial_number": "board_serial"},
        )
    )
    dmi.update(
        _text_fields(
            attributes.bios,
            {"vendor": "bios_vendor", "version": "bios_version", "release_date": "bios_date"},
        )
    )
    dmi.update(
        _text_fields(attributes.chassis, {"vendor": "chassis_vendor", "serial": "chassis_serial"})
    )
    if dmi:
        report["dmi"] = dmi
    for name, parts in (("pci", attributes.pci), ("gpu", attributes.gpu)):
        if parts:
            report[name] = [
                _text_fields(
                    part,
                    {
                        "vendor": "vendor",
                        "product": "product",
                        "class": "class",
                        "driver": "driver",
                    },
                )
                for part in parts
            ]
    return report

"""The machine's hardware, read from /proc and /sys, as reported in ``hello``.

Every reader takes the root of the tree to read so tests can point it at a fake one. A file
that is missing or unreadable (sysfs refuses some reads, e.g. the speed of a link that is down,
and DMI serials are root-only) leaves its field out: hardware reporting never stops the agent.
"""

from __future__ import annotations

import contextlib
import os
import platform
from pathlib import Path
from typing import Any

# Block devices that are not disks one could install to.
VIRTUAL_DISK_PREFIXES = ("loop", "ram", "zram", "nbd", "dm-", "md", "sr", "fd")
DMI_FIELDS = (
    "sys_vendor",
    "product_name",
    "product_serial",
    "product_uuid",
    "board_vendor",
    "board_name",
    "board_serial",
    "bios_vendor",
    "bios_version",
    "bios_date",
)
ZERO_MAC = "00:00:00:00:00:00"


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        return None


def _read_int(path: Path) -> int | None:
    text = _read(path)
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def read_cpu(root: Path) -> dict[str, Any]:
    """Model, sockets, cores and threads from ``/proc/cpuinfo``."""
    text = _read(root / "proc/cpuinfo")
    if text is None:
        return {}
    processors: list[dict[str, str]] = []
    current: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if current:
                processors.append(current)
                current = {}
            continue
        key, _, value = line.partition(":")
        current[key.strip().lower()] = value.strip()
    if current:
        processors.append(current)
    processors = [p for p in processors if "processor" in p]
    if not processors:
        return {}
    first = processors[0]
    # x86 says "model name"; arm64 kernels say nothing or "Hardware"/"CPU part".
    model = first.get("model name") or first.get("hardware") or first.get("cpu model")
    sockets = {p.get("physical id", "0") for p in processors}
    cores = {(p.get("physical id", "0"), p.get("core id")) for p in processors if "core id" in p}
    info: dict[str, Any] = {
        "threads": len(processors),
        "cores": len(cores) if cores else len(processors),
        "sockets": len(sockets),
        "arch": platform.machine(),
    }
    if model:
        info["model"] = model
    if first.get("vendor_id"):
        info["vendor"] = first["vendor_id"]
    return info


def read_memory_bytes(root: Path) -> int | None:
    text = _read(root / "proc/meminfo")
    for line in (text or "").splitlines():
        if line.startswith("MemTotal:"):
            parts = line.split()
            try:
                return int(parts[1]) * (1024 if parts[-1].lower() == "kb" else 1)
            except (IndexError, ValueError):
                return None
    return None


def read_disks(root: Path) -> list[dict[str, Any]]:
    """Block devices under ``/sys/block`` that are disks (loop, ram, zram, dm, md... skipped)."""
    base = root / "sys/block"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    disks = []
    for name in names:
        if name.startswith(VIRTUAL_DISK_PREFIXES):
            continue
        entry = base / name
        disk: dict[str, Any] = {"name": name, "device": f"/dev/{name}"}
        sectors = _read_int(entry / "size")
        if sectors is not None:
            disk["size_bytes"] = sectors * 512  # sysfs counts 512-byte sectors for every disk
        model = _read(entry / "device/model")
        if model:
            disk["model"] = model
        # SCSI/NVMe disks keep the serial under device/, virtio disks next to size.
        serial = _read(entry / "device/serial") or _read(entry / "serial")
        if serial:
            disk["serial"] = serial
        rotational = _read(entry / "queue/rotational")
        if rotational in {"0", "1"}:
            disk["rotational"] = rotational == "1"
        disks.append(disk)
    return disks


def read_nics(root: Path) -> list[dict[str, Any]]:
    """Network interfaces under ``/sys/class/net`` except loopback."""
    base = root / "sys/class/net"
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return []
    nics = []
    for name in names:
        entry = base / name
        mac = (_read(entry / "address") or "").lower()
        if name == "lo" or _read(entry / "type") == "772":  # 772 = ARPHRD_LOOPBACK
            continue
        nic: dict[str, Any] = {"name": name}
        if mac:
            nic["mac"] = mac
        speed = _read_int(entry / "speed")
        if speed is not None and speed > 0:  # -1 (or a read error) means unknown / link down
            nic["speed_mbps"] = speed
        with contextlib.suppress(OSError):
            nic["driver"] = os.path.basename(os.readlink(entry / "device/driver"))
        nic["physical"] = (entry / "device").exists()
        state = _read(entry / "operstate")
        if state:
            nic["state"] = state
        nics.append(nic)
    return nics


def read_dmi(root: Path) -> dict[str, str]:
    base = root / "sys/class/dmi/id"
    dmi = {}
    for name in DMI_FIELDS:
        value = _read(base / name)
        if value:
            dmi[name] = value
    return dmi


def collect(root: Path = Path("/")) -> dict[str, Any]:
    """Everything ``hello`` reports; fields that could not be read are left out."""
    hardware: dict[str, Any] = {
        "cpu": read_cpu(root),
        "disks": read_disks(root),
        "nics": read_nics(root),
        "dmi": read_dmi(root),
    }
    memory = read_memory_bytes(root)
    if memory is not None:
        hardware["memory_bytes"] = memory
    firmware = read_firmware(root)
    if firmware is not None:
        hardware["firmware"] = firmware
    return hardware


def read_firmware(root: Path) -> str | None:
    """``uefi`` or ``bios``: the kernel exposes /sys/firmware/efi only when UEFI booted it."""
    if not (root / "sys/firmware").is_dir():
        return None
    return "uefi" if (root / "sys/firmware/efi").is_dir() else "bios"


def first_mac(root: Path = Path("/")) -> str | None:
    """The MAC of the first physical NIC (by name), else of the first non-loopback one."""
    nics = [n for n in read_nics(root) if n.get("mac") and n["mac"] != ZERO_MAC]
    physical = [n for n in nics if n["physical"]]
    chosen = (physical or nics)[:1]
    return chosen[0]["mac"] if chosen else None

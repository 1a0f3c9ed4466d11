"""Hardware readers on a fake /proc + /sys tree."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from rackpilot_agent import hardware

CPUINFO_BLOCK = """processor\t: {n}
vendor_id\t: GenuineIntel
model name\t: Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz
physical id\t: {socket}
core id\t\t: {core}
cpu cores\t: 2

"""


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


@pytest.fixture
def root(tmp_path: Path) -> Path:
    # 2 sockets x 2 cores x 2 threads
    blocks = [CPUINFO_BLOCK.format(n=n, socket=n // 4, core=(n // 2) % 2) for n in range(8)]
    _write(tmp_path / "proc/cpuinfo", "".join(blocks))
    _write(tmp_path / "proc/meminfo", "MemTotal:       16318480 kB\nMemFree:  1 kB\n")

    block = tmp_path / "sys/block"
    _write(block / "sda/size", "3907029168\n")
    _write(block / "sda/device/model", "ST2000NM0055-1V4\n")
    _write(block / "sda/device/serial", "ZC20ABCD\n")
    _write(block / "sda/queue/rotational", "1\n")
    _write(block / "nvme0n1/size", "1953525168\n")
    _write(block / "nvme0n1/device/model", "Samsung SSD 980 PRO 1TB\n")
    _write(block / "nvme0n1/queue/rotational", "0\n")
    _write(block / "vda/size", "20971520\n")
    _write(block / "vda/serial", "virtio-serial-1\n")  # virtio keeps it next to size
    for virtual in ("loop0", "ram0", "zram0", "dm-0"):
        _write(block / virtual / "size", "1024\n")

    net = tmp_path / "sys/class/net"
    _write(net / "lo/address", "00:00:00:00:00:00\n")
    _write(net / "lo/type", "772\n")
    _write(net / "eno1/address", "3C:EC:EF:00:00:01\n")
    _write(net / "eno1/speed", "10000\n")
    _write(net / "eno1/operstate", "up\n")
    drivers = tmp_path / "sys/bus/pci/drivers/ixgbe"
    drivers.mkdir(parents=True)
    (net / "eno1/device").mkdir(parents=True)
    os.symlink(drivers, net / "eno1/device/driver")
    _write(net / "br0/address", "02:42:ac:11:00:01\n")
    _write(net / "br0/speed", "-1\n")  # virtual: no device/, no speed

    dmi = tmp_path / "sys/class/dmi/id"
    _write(dmi / "sys_vendor", "Supermicro\n")
    _write(dmi / "product_name", "SYS-1029P-WTR\n")
    _write(dmi / "board_serial", "WM19AS000123\n")
    _write(dmi / "bios_version", "3.4\n")
    # product_serial is root-only on real machines: absent here, and simply left out.
    (tmp_path / "sys/firmware/acpi").mkdir(parents=True)  # a BIOS boot: no firmware/efi
    return tmp_path


def test_cpu_counts_sockets_cores_and_threads(root: Path):
    cpu = hardware.read_cpu(root)
    assert cpu["model"] == "Intel(R) Xeon(R) Gold 6230 CPU @ 2.10GHz"
    assert (cpu["sockets"], cpu["cores"], cpu["threads"]) == (2, 4, 8)
    assert cpu["vendor"] == "GenuineIntel"


def test_memory_is_reported_in_bytes(root: Path):
    assert hardware.read_memory_bytes(root) == 16318480 * 1024


def test_disks_skip_virtual_devices_and_read_what_exists(root: Path):
    disks = {disk["name"]: disk for disk in hardware.read_disks(root)}
    assert sorted(disks) == ["nvme0n1", "sda", "vda"]
    assert disks["sda"] == {
        "name": "sda",
        "device": "/dev/sda",
        "size_bytes": 3907029168 * 512,
        "model": "ST2000NM0055-1V4",
        "serial": "ZC20ABCD",
        "rotational": True,
    }
    assert disks["nvme0n1"]["rotational"] is False
    assert "serial" not in disks["nvme0n1"]
    assert disks["vda"]["serial"] == "virtio-serial-1"
    assert "rotational" not in disks["vda"]


def test_nics_skip_loopback_and_unknown_speeds(root: Path):
    nics = {nic["name"]: nic for nic in hardware.read_nics(root)}
    assert sorted(nics) == ["br0", "eno1"]
    assert nics["eno1"] == {
        "name": "eno1",
        "mac": "3c:ec:ef:00:00:01",
        "speed_mbps": 10000,
        "driver": "ixgbe",
        "physical": True,
        "state": "up",
    }
    assert "speed_mbps" not in nics["br0"]
    assert "driver" not in nics["br0"]


def test_first_mac_prefers_a_physical_nic(root: Path):
    # br0 sorts first, but eno1 is the one with a device behind it.
    assert hardware.first_mac(root) == "3c:ec:ef:00:00:01"


def test_dmi_leaves_out_unreadable_fields(root: Path):
    assert hardware.read_dmi(root) == {
        "sys_vendor": "Supermicro",
        "product_name": "SYS-1029P-WTR",
        "board_serial": "WM19AS000123",
        "bios_version": "3.4",
    }


def test_collect_puts_it_together(root: Path):
    report = hardware.collect(root)
    assert set(report) == {"cpu", "memory_bytes", "disks", "nics", "dmi", "firmware"}
    assert len(report["disks"]) == 3
    assert report["firmware"] == "bios"


def test_firmware_is_uefi_when_the_kernel_shows_efi_variables(root: Path):
    (root / "sys/firmware/efi/efivars").mkdir(parents=True)
    assert hardware.collect(root)["firmware"] == "uefi"


def test_an_empty_tree_is_not_an_error(tmp_path: Path):
    assert hardware.collect(tmp_path) == {"cpu": {}, "disks": [], "nics": [], "dmi": {}}
    assert hardware.first_mac(tmp_path) is None


def test_garbage_in_sysfs_is_skipped(tmp_path: Path):
    _write(tmp_path / "sys/block/sdb/size", "not a number\n")
    _write(tmp_path / "sys/block/sdb/queue/rotational", "maybe\n")
    _write(tmp_path / "proc/meminfo", "MemTotal: lots kB\n")
    assert hardware.read_disks(tmp_path) == [{"name": "sdb", "device": "/dev/sdb"}]
    assert hardware.read_memory_bytes(tmp_path) is None

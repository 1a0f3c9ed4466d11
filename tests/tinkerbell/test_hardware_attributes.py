"""status.attributes from Rackpilot's hardware reports: Tinkerbell's shape, empties pruned, and
no report shape (they are free-form JSON) ever breaks a render."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from tinkerbell.hardware_attributes import attributes, observed_attributes

AGENT: dict[str, Any] = {
    "cpu": {"cores": 4, "threads": 8, "model": "Xeon", "vendor": "GenuineIntel"},
    "memory_bytes": 17179869184,
    "disks": [{"name": "sda", "size_bytes": 100, "serial": "S1", "model": ""}],
    "nics": [{"name": "eth0", "mac": "52:54:00:00:00:01", "speed_mbps": 1000}],
    "dmi": {"sys_vendor": "QEMU", "bios_version": "1.16"},
    "pci": [{"vendor": "Red Hat", "product": "Virtio network", "driver": "virtio-pci"}],
}


def test_an_agent_report_becomes_the_in_band_subtree() -> None:
    assert attributes(AGENT, method="agent") == {
        "collectionMethod": "agent",
        "cpu": {
            "totalCores": 4,
            "totalThreads": 8,
            "sockets": [{"vendor": "GenuineIntel", "model": "Xeon"}],
        },
        "memory": {"totalBytes": 17179869184},
        "blockDevices": [{"name": "sda", "serialNumber": "S1", "sizeBytes": 100}],
        "networkInterfaces": [
            {"name": "eth0", "ports": [{"mac": "52:54:00:00:00:01", "speedMbps": 1000}]}
        ],
        "pciDevices": [{"vendor": "Red Hat", "model": "Virtio network", "driver": "virtio-pci"}],
        "product": {"vendor": "QEMU"},
        "bios": {"firmwareVersion": "1.16"},
    }


def test_a_bmc_inventory_becomes_the_out_of_band_subtree_with_its_time() -> None:
    inventory = {
        "agent": "redfish",
        "cpu_sockets": [{"slot": "CPU1", "cores": 20, "threads": 40, "speed_mhz": 2500}],
        "memory_modules": [{"slot": "DIMM.A1", "size_bytes": 34359738368, "speed_mhz": 2933}],
        "nics": [{"name": "NIC.Embedded.1", "mac": "aa:bb:cc:dd:ee:ff"}],
        "pci": [{"vendor": "never out of band"}],
    }
    at = datetime(2026, 8, 11, 12, 0, tzinfo=UTC)

    observed = observed_attributes(hardware=None, inventory=inventory, inventory_at=at)

    assert observed == {
        "outOfBand": {
            "lastUpdated": "2026-08-11T12:00:00Z",
            "collectionMethod": "redfish",
            "cpu": {
                "sockets": [{"slot": "CPU1", "cores": 20, "threads": 40, "clockSpeedMHz": 2500}]
            },
            "memory": {
                "modules": [{"slot": "DIMM.A1", "sizeBytes": 34359738368, "speedMHz": 2933}]
            },
            "networkInterfaces": [
                {"ports": [{"mac": "aa:bb:cc:dd:ee:ff", "portID": "NIC.Embedded.1"}]}
            ],
        }
    }


@pytest.mark.parametrize(
    "report",
    [
        {"cpus": 4},
        {"cpu": "8 cores", "disks": "sda", "nics": [1, "eth0", None], "dmi": ["x"]},
        {"cpu_sockets": [{"slot": 1, "vendor": 7}], "memory_bytes": "16G", "pci": {"a": 1}},
        {"nics": [{"capabilities": "tso", "speed": -1}], "memory_modules": [[]]},
    ],
)
def test_free_form_reports_never_break(report: dict[str, Any]) -> None:
    result = attributes(report, method="agent")

    assert result["collectionMethod"] == "agent"
    assert observed_attributes(hardware=report, inventory=report, inventory_at=None)

"""A small inventory covering each boot case the DHCP export distinguishes."""

from __future__ import annotations

from typing import Any, cast

import pytest

from inventory.models import Machine, NetworkInterface
from tests.factories import MachineFactory, NetworkInterfaceFactory, RackFactory


@pytest.fixture
def inventory(settings: pytest.FixtureRequest) -> dict[str, NetworkInterface]:
    settings.RACKPILOT_PUBLIC_URL = "http://rackpilot.example:8000/"  # type: ignore[attr-defined]
    fra = RackFactory(site__slug="fra1", name="A01")
    ams = RackFactory(site__slug="ams1", name="B01")

    def nic(machine: Any, mac: str, ip: str | None, **fields: object) -> NetworkInterface:
        values: dict[str, object] = {
            "machine": machine,
            "mac": mac,
            "ip": ip,
            "gateway": "10.20.0.1" if ip else None,
            "nameservers": ["10.20.0.53"],
        }
        values.update(fields)
        return cast(NetworkInterface, NetworkInterfaceFactory(**values))

    bios = MachineFactory(hostname="bios-01", rack=fra, uefi=False)
    uefi = MachineFactory(hostname="uefi-01", rack=fra)
    arm = MachineFactory(hostname="arm-01", rack=fra, arch=Machine.Arch.AARCH64)
    locked = MachineFactory(hostname="locked-01", rack=ams, allow_pxe=False)
    return {
        "bios": nic(bios, "52:54:00:00:00:01", "10.20.0.11", lease_time=3600),
        "uefi": nic(uefi, "52:54:00:00:00:02", "10.20.0.12", hostname="uefi-01-pxe"),
        "uefi_spare": nic(
            uefi, "52:54:00:00:00:12", None, name="eth1", is_boot=False, nameservers=[]
        ),
        "arm": nic(
            arm,
            "52:54:00:00:00:03",
            "10.20.0.13",
            gateway="10.20.0.254",
            nameservers=["10.20.0.53", "1.1.1.1"],
        ),
        "locked": nic(locked, "52:54:00:00:00:04", "10.20.0.14"),
        "vlan": nic(
            locked,
            "52:54:00:00:00:14",
            "192.168.100.14",
            name="eth1",
            is_boot=False,
            netmask="255.255.255.128",
            gateway="192.168.100.1",
            vlan_id=100,
        ),
        "dhcp_off": nic(
            bios, "52:54:00:00:00:21", "10.20.0.21", name="eth1", is_boot=False, dhcp_enabled=False
        ),
    }

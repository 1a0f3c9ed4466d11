"""``export_dhcp --format kea``: a Dhcp4 document with reservations and boot classes."""

from __future__ import annotations

import json
import shutil
import subprocess
from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command

from inventory.models import NetworkInterface
from tests.tools import require_tool

pytestmark = pytest.mark.django_db

SCRIPT_URL = "http://rackpilot.example:8000/ipxe/${mac}/auto.ipxe"


def export_kea(*args: str) -> dict[str, Any]:
    stdout = StringIO()
    call_command("export_dhcp", "--format", "kea", *args, stdout=stdout, stderr=StringIO())
    document: dict[str, Any] = json.loads(stdout.getvalue())
    return document["Dhcp4"]


def reservations_by_mac(dhcp4: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {r["hw-address"]: r for s in dhcp4["subnet4"] for r in s["reservations"]}


def test_subnets_are_grouped_by_network_with_their_defaults(
    inventory: dict[str, NetworkInterface],
) -> None:
    dhcp4 = export_kea()

    assert [(s["id"], s["subnet"], s["valid-lifetime"]) for s in dhcp4["subnet4"]] == [
        (1, "10.20.0.0/24", 86400),
        (2, "192.168.100.0/25", 86400),
    ]
    assert dhcp4["subnet4"][0]["option-data"] == [
        {"name": "routers", "data": "10.20.0.1"},
        {"name": "domain-name-servers", "data": "10.20.0.53"},
    ]
    assert [r["ip-address"] for r in dhcp4["subnet4"][1]["reservations"]] == ["192.168.100.14"]


def test_reservations_carry_hostname_and_only_the_options_that_differ(
    inventory: dict[str, NetworkInterface],
) -> None:
    reservations = reservations_by_mac(export_kea())

    assert set(reservations) == {
        "52:54:00:00:00:01",
        "52:54:00:00:00:02",
        "52:54:00:00:00:03",
        "52:54:00:00:00:04",
        "52:54:00:00:00:14",
    }
    uefi = reservations["52:54:00:00:00:02"]
    assert (uefi["ip-address"], uefi["hostname"]) == ("10.20.0.12", "uefi-01-pxe")
    assert "option-data" not in uefi
    assert reservations["52:54:00:00:00:03"]["option-data"] == [
        {"name": "routers", "data": "10.20.0.254"},
        {"name": "domain-name-servers", "data": "10.20.0.53, 1.1.1.1"},
    ]
    assert reservations["52:54:00:00:00:14"]["user-context"] == {
        "machine": "locked-01",
        "interface": "eth1",
        "vlan-id": 100,
        "pxe": "not allowed",
    }


def test_a_shorter_lease_is_a_reserved_class_with_its_lifetime(
    inventory: dict[str, NetworkInterface],
) -> None:
    dhcp4 = export_kea()

    assert reservations_by_mac(dhcp4)["52:54:00:00:00:01"]["client-classes"] == ["lease-3600"]
    assert {"name": "lease-3600", "valid-lifetime": 3600} in dhcp4["client-classes"]


def test_boot_classes_chainload_by_architecture_and_hand_ipxe_the_script(
    inventory: dict[str, NetworkInterface],
) -> None:
    classes = {c["name"]: c for c in export_kea("--tftp-server", "10.20.0.2")["client-classes"]}

    assert classes["ipxe"] == {
        "name": "ipxe",
        "test": "(option[175].exists or option[77].hex == 'iPXE') and not member('no-pxe')",
        "boot-file-name": SCRIPT_URL,
    }
    boot = {
        name: (c["test"], c["boot-file-name"], c["next-server"])
        for name, c in classes.items()
        if name in {"bios", "efi-x86_64", "efi-arm64"}
    }
    assert boot == {
        "bios": (
            "(option[93].hex == 0x0000) and not member('ipxe') and not member('no-pxe')",
            "undionly.kpxe",
            "10.20.0.2",
        ),
        "efi-x86_64": (
            "(option[93].hex == 0x0007 or option[93].hex == 0x0009)"
            " and not member('ipxe') and not member('no-pxe')",
            "ipxe.efi",
            "10.20.0.2",
        ),
        "efi-arm64": (
            "(option[93].hex == 0x000b) and not member('ipxe') and not member('no-pxe')",
            "snp.efi",
            "10.20.0.2",
        ),
    }


def test_machines_without_pxe_match_a_class_that_keeps_boot_files_away(
    inventory: dict[str, NetworkInterface],
) -> None:
    classes = export_kea()["client-classes"]

    # Kea evaluates classes in order, so no-pxe must come before the classes that test it.
    assert classes[0] == {
        "name": "no-pxe",
        "test": "pkt4.mac == 0x525400000004 or pkt4.mac == 0x525400000014",
    }


def test_without_denied_machines_there_is_no_no_pxe_class(
    inventory: dict[str, NetworkInterface],
) -> None:
    classes = export_kea("--site", "fra1")["client-classes"]

    assert [c["name"] for c in classes] == ["ipxe", "bios", "efi-x86_64", "efi-arm64", "lease-3600"]
    assert all("no-pxe" not in c.get("test", "") for c in classes)


def test_skipped_interfaces_are_listed_in_the_user_context(
    inventory: dict[str, NetworkInterface],
) -> None:
    assert export_kea()["user-context"]["skipped"] == [
        "bios-01 eth1 52:54:00:00:00:21: DHCP disabled",
        "uefi-01 eth1 52:54:00:00:00:12: no IP address",
    ]


def kea_dhcp4() -> str:
    # Debian installs it in /usr/sbin, which is not on every user's PATH.
    kea = shutil.which("kea-dhcp4") or next(
        (str(p) for p in (Path("/usr/sbin/kea-dhcp4"), Path("/sbin/kea-dhcp4")) if p.exists()),
        None,
    )
    require_tool(kea is not None, "kea-dhcp4 (Debian package kea-dhcp4-server)")
    assert kea is not None
    return kea


def kea_check(kea: str, config: Path) -> subprocess.CompletedProcess[str]:
    """``kea-dhcp4 -t``: parses the whole document, class test expressions included."""
    return subprocess.run(
        [kea, "-t", str(config)], capture_output=True, text=True, timeout=60, check=False
    )


@pytest.mark.parametrize(
    "extra",
    [[], ["--tftp-server", "10.20.0.2"], ["--discovery-pool", "10.20.0.100-10.20.0.199"]],
    ids=["no-tftp", "tftp", "discovery-pool"],
)
def test_kea_accepts_the_export(
    inventory: dict[str, NetworkInterface], tmp_path: Path, extra: list[str]
) -> None:
    kea = kea_dhcp4()
    config = tmp_path / "kea-dhcp4.conf"
    call_command(
        "export_dhcp", "--format", "kea", *extra, "--output", str(config), stderr=StringIO()
    )

    result = kea_check(kea, config)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # Both subnets made it into Kea's configuration, not only past the JSON parser.
    assert "10.20.0.0/24" in output and "192.168.100.0/25" in output, output
    assert " WARN " not in output and " ERROR " not in output, output


def test_kea_check_rejects_a_broken_class_expression(
    inventory: dict[str, NetworkInterface], tmp_path: Path
) -> None:
    """Guards the test above: ``kea-dhcp4 -t`` really evaluates what the export wrote."""
    kea = kea_dhcp4()
    dhcp4 = export_kea()
    dhcp4["client-classes"][0]["test"] = "option[93].hexx == 0x0000"
    config = tmp_path / "broken.conf"
    config.write_text(json.dumps({"Dhcp4": dhcp4}))

    result = kea_check(kea, config)

    assert result.returncode != 0
    assert "hexx" in result.stdout + result.stderr

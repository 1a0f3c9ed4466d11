"""``export_dhcp --discovery-pool``: dynamic addresses for unknown machines, so they can netboot
into discovery, in the subnet that holds them."""

from __future__ import annotations

import json
from io import StringIO
from typing import Any

import pytest
from django.core.management import CommandError, call_command

from inventory.models import NetworkInterface

pytestmark = pytest.mark.django_db
POOL = "10.20.0.100-10.20.0.199"


def export(fmt: str, *args: str) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("export_dhcp", "--format", fmt, *args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


def test_dnsmasq_leases_the_pool_in_its_subnet_next_to_the_reservations(
    inventory: dict[str, NetworkInterface], settings: Any
) -> None:
    settings.NETBOOT_DISCOVERY = True
    text, notes = export("dnsmasq", "--discovery-pool", POOL)
    lines = text.splitlines()
    static = lines.index("dhcp-range=set:net-10-20-0-0-24,10.20.0.0,static,255.255.255.0,86400")
    assert lines[static + 1] == (
        "dhcp-range=set:net-10-20-0-0-24,10.20.0.100,10.20.0.199,255.255.255.0,86400"
    )
    # The other subnet stays reservations only.
    assert sum(line.startswith("dhcp-range=") for line in lines) == 3
    assert "NETBOOT_DISCOVERY" not in notes


def test_kea_puts_the_pool_on_its_subnet(inventory: dict[str, NetworkInterface]) -> None:
    text, _ = export("kea", "--discovery-pool", POOL, "--discovery-pool", "10.20.0.230-10.20.0.240")
    first, second = json.loads(text)["Dhcp4"]["subnet4"]
    assert first["pools"] == [
        {"pool": "10.20.0.100 - 10.20.0.199"},
        {"pool": "10.20.0.230 - 10.20.0.240"},
    ]
    assert "pools" not in second


def test_a_pool_while_discovery_is_off_says_what_it_will_do(
    inventory: dict[str, NetworkInterface], settings: Any
) -> None:
    settings.NETBOOT_DISCOVERY = False
    _, notes = export("dnsmasq", "--discovery-pool", POOL)
    assert "NETBOOT_DISCOVERY is off" in notes


@pytest.mark.parametrize(
    ("pool", "message"),
    [
        ("10.20.0.100", "'10.20.0.100' is not a range: write FIRST-LAST"),
        ("10.20.0.100-banana", "'10.20.0.100-banana' is not a range of two IPv4 addresses"),
        ("10.20.0.199-10.20.0.100", "'10.20.0.199-10.20.0.100' ends before it starts"),
        (
            "10.30.0.1-10.30.0.9",
            "discovery pool 10.30.0.1-10.30.0.9 is not inside one exported subnet "
            "(exported: 10.20.0.0/24, 192.168.100.0/25)",
        ),
        (
            "10.20.0.250-192.168.100.5",
            "discovery pool 10.20.0.250-192.168.100.5 is not inside one exported subnet",
        ),
    ],
)
def test_a_bad_pool_is_an_error_that_names_it(
    inventory: dict[str, NetworkInterface], pool: str, message: str
) -> None:
    with pytest.raises(CommandError, match="--discovery-pool: ") as caught:
        export("kea", "--discovery-pool", pool)
    assert message in str(caught.value)

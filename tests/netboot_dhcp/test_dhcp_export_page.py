"""The DHCP configuration downloaded from the dashboard is the command's, byte for byte."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from inventory.models import NetworkInterface

pytestmark = pytest.mark.django_db
POOL = "10.20.0.100-10.20.0.199"


def command(*args: str) -> str:
    out = StringIO()
    call_command("export_dhcp", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


@pytest.mark.parametrize(
    ("fmt", "filename"), [("dnsmasq", "rackpilot-dhcp.conf"), ("kea", "kea-dhcp4.json")]
)
def test_the_download_is_what_export_dhcp_writes(
    viewer_client: Client, inventory: dict[str, NetworkInterface], fmt: str, filename: str
) -> None:
    answer = viewer_client.get(
        "/discovery/dhcp-export/",
        {"format": fmt, "site": "fra1", "tftp_server": "10.20.0.2", "discovery_pools": POOL},
    )

    assert answer.status_code == 200
    assert answer["Content-Disposition"] == f'attachment; filename="{filename}"'
    expected = command(
        "--format", fmt, "--site", "fra1", "--tftp-server", "10.20.0.2", "--discovery-pool", POOL
    )
    assert answer.content.decode() == expected


def test_bad_input_is_named_on_the_form(
    viewer_client: Client, inventory: dict[str, NetworkInterface]
) -> None:
    answer = viewer_client.get(
        "/discovery/dhcp-export/",
        {"format": "dnsmasq", "tftp_server": "fe80::1", "discovery_pools": "10.20.0.9-x"},
    )

    page = answer.content.decode()
    assert answer.status_code == 400
    assert "Enter a valid IPv4 address" in page
    assert "line 1:" in page
    assert viewer_client.get("/discovery/dhcp-export/").status_code == 200  # the empty form

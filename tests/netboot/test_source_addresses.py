"""Who may ask: a machine's script goes to its own address (or a trusted relay), metadata
answers only an address one machine holds, X-Forwarded-For counts only from trusted proxies,
and discovery answers only its subnets, up to a cap of machines waiting."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from builds.models import Build
from inventory.models import Machine
from inventory.states import MachineState
from tests.factories import MachineFactory, NetworkInterfaceFactory
from tests.netboot.conftest import make_machine
from workflows.models import AgentToken

pytestmark = pytest.mark.django_db

SCRIPT = "/ipxe/52:54:00:12:34:56/auto.ipxe"  # bios_machine, IP 10.0.2.15
PROXY = "192.0.2.10"


@pytest.fixture
def no_trusted_proxies(settings: Any) -> None:
    settings.NETBOOT_TRUSTED_PROXIES = []


# --- a machine's script goes to the machine ----------------------------------------------------


def test_the_script_is_served_to_the_machines_own_address_only(
    client: Client, bios_machine: Machine, default_build: Build, no_trusted_proxies: None
) -> None:
    refused = client.get(SCRIPT, REMOTE_ADDR="10.0.2.99")
    assert refused.status_code == 404
    assert refused.content.decode() == (
        "52:54:00:12:34:56 has IP 10.0.2.15: its script is not served to 10.0.2.99 "
        "(add a relay or proxy to NETBOOT_TRUSTED_PROXIES)\n"
    )
    assert not AgentToken.objects.exists()
    assert client.get(SCRIPT, REMOTE_ADDR="10.0.2.15").status_code == 200


def test_an_interface_without_an_ip_is_served_by_mac_from_anywhere(
    client: Client, default_build: Build, no_trusted_proxies: None
) -> None:
    machine = MachineFactory()
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:00:77:01", ip=None, gateway=None)
    response = client.get("/ipxe/52:54:00:00:77:01/auto.ipxe", REMOTE_ADDR="10.0.2.99")
    assert response.status_code == 200  # nothing to do, but nothing refused either


def test_a_trusted_relay_fetches_for_the_machine(
    client: Client, settings: Any, bios_machine: Machine, default_build: Build
) -> None:
    settings.NETBOOT_TRUSTED_PROXIES = ["192.0.2.0/28"]
    assert client.get(SCRIPT, REMOTE_ADDR=PROXY).status_code == 200
    forwarded = client.get(SCRIPT, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.0.2.15")
    assert forwarded.status_code == 200
    # Through the proxy, a client that is not the machine is refused by its own address.
    other = client.get(SCRIPT, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.0.2.99")
    assert other.status_code == 404
    assert "not served to 10.0.2.99" in other.content.decode()


def test_x_forwarded_for_from_an_untrusted_peer_is_ignored(
    client: Client, bios_machine: Machine, default_build: Build, no_trusted_proxies: None
) -> None:
    spoofed = client.get(SCRIPT, REMOTE_ADDR="10.0.2.99", HTTP_X_FORWARDED_FOR="10.0.2.15")
    assert spoofed.status_code == 404
    assert "not served to 10.0.2.99" in spoofed.content.decode()


def test_hops_left_of_the_first_untrusted_one_prove_nothing(
    client: Client, settings: Any, bios_machine: Machine, default_build: Build
) -> None:
    settings.NETBOOT_TRUSTED_PROXIES = ["192.0.2.0/28"]
    # The client wrote "10.0.2.15" itself; the proxy appended the address it really saw.
    response = client.get(
        SCRIPT, REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.0.2.15, 10.0.2.99, 192.0.2.11"
    )
    assert response.status_code == 404
    assert "not served to 10.0.2.99" in response.content.decode()


def test_metadata_behind_a_trusted_proxy_answers_the_forwarded_client(
    client: Client, settings: Any, bios_machine: Machine
) -> None:
    settings.NETBOOT_TRUSTED_PROXIES = ["192.0.2.0/28"]
    response = client.get(
        "/2009-04-04/meta-data/hostname", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.0.2.15"
    )
    assert (response.status_code, response.content) == (200, b"bios-01")
    settings.NETBOOT_TRUSTED_PROXIES = []
    untrusted = client.get(
        "/2009-04-04/meta-data/hostname", REMOTE_ADDR=PROXY, HTTP_X_FORWARDED_FOR="10.0.2.15"
    )
    assert untrusted.status_code == 404


# --- an address two machines hold --------------------------------------------------------------


def test_an_ip_on_two_machines_answers_404_naming_them(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    twin = make_machine(hostname="twin-01", mac="52:54:00:00:88:01", ip="10.0.2.15")
    twin.user_data = "#cloud-config\n"
    twin.save()
    conflict = (
        "IP 10.0.2.15 is on interfaces of 2 machines (bios-01, twin-01): fix the inventory so "
        "that one machine holds it\n"
    )
    for path in ("/2009-04-04/meta-data/hostname", "/2009-04-04/user-data", "/ipxe/auto.ipxe"):
        response = client.get(path, REMOTE_ADDR="10.0.2.15")
        assert (response.status_code, response.content.decode()) == (404, conflict), path


def test_one_machine_holding_an_ip_twice_is_not_a_conflict(
    client: Client, default_build: Build
) -> None:
    machine = MachineFactory(hostname="bonded")
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:00:99:01", ip="10.3.0.5", is_boot=True)
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:00:99:02", ip="10.3.0.5", is_boot=False)
    response = client.get("/2009-04-04/meta-data/hostname", REMOTE_ADDR="10.3.0.5")
    assert (response.status_code, response.content) == (200, b"bonded")


def test_the_machine_page_warns_of_a_shared_ip(admin_client: Client, bios_machine: Machine) -> None:
    make_machine(hostname="twin-01", mac="52:54:00:00:88:01", ip="10.0.2.15")
    page = admin_client.get(f"/machines/{bios_machine.pk}/").content.decode()
    assert 'data-shared-ip="10.0.2.15"' in page
    assert "is also on twin-01: netboot and metadata answer 404 for it" in page


# --- discovery ---------------------------------------------------------------------------------


UNKNOWN = "/ipxe/52:54:00:de:ad:77/auto.ipxe?arch=x86_64&platform=pcbios"


@pytest.fixture
def discovery(settings: Any, default_build: Build) -> Any:
    settings.NETBOOT_DISCOVERY = True
    settings.NETBOOT_DISCOVERY_SUBNETS = ["10.8.0.0/16"]
    settings.NETBOOT_DISCOVERY_MAX_WAITING = 2
    return settings


def test_discovery_answers_only_its_subnets(client: Client, discovery: Any) -> None:
    outside = client.get(UNKNOWN, REMOTE_ADDR="10.9.0.5")
    assert outside.status_code == 404
    assert (
        "discovery answers only NETBOOT_DISCOVERY_SUBNETS, and 10.9.0.5 is not in them"
        in outside.content.decode()
    )
    assert not AgentToken.objects.exists()
    assert client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4").status_code == 200
    discovery.NETBOOT_DISCOVERY_SUBNETS = []
    assert client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4").status_code == 404


def test_discovery_stops_at_the_cap_of_machines_waiting(client: Client, discovery: Any) -> None:
    for n in range(2):
        MachineFactory(state=MachineState.DISCOVERED, hostname=f"waiting-{n}")
    refused = client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4")
    assert refused.status_code == 404
    assert "2 discovered machines are waiting for acceptance" in refused.content.decode()
    assert "NETBOOT_DISCOVERY_MAX_WAITING" in refused.content.decode()


def test_a_second_discovery_token_for_a_waiting_mac_is_refused(
    client: Client, discovery: Any
) -> None:
    from tests.netboot.test_boot_nonce import hello, nonce_in

    first = nonce_in(client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4").content.decode())
    second = nonce_in(client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4").content.decode())
    assert hello(first, worker_id="52:54:00:de:ad:77").status_code == 200

    refused = hello(second, worker_id="52:54:00:de:ad:77")

    assert refused.status_code == 403
    assert (
        "52:54:00:de:ad:77 is already waiting for acceptance as discovered-525400dead77"
        in (refused.json()["detail"])
    )
    assert Machine.objects.count() == 1


def test_enrolment_also_stops_at_the_cap(client: Client, discovery: Any) -> None:
    from tests.netboot.test_boot_nonce import hello, nonce_in

    raw = nonce_in(client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4").content.decode())
    for n in range(2):  # filled up while the machine was booting
        MachineFactory(state=MachineState.DISCOVERED, hostname=f"waiting-{n}")
    refused = hello(raw, worker_id="52:54:00:de:ad:77")
    assert refused.status_code == 403
    assert "waiting for acceptance" in refused.json()["detail"]
    assert Machine.objects.count() == 2


def test_a_discovered_nic_never_takes_a_mac_the_inventory_has(
    client: Client, discovery: Any
) -> None:
    from tests.netboot.test_boot_nonce import agent, nonce_in

    owner = make_machine(hostname="owner", mac="52:54:00:aa:aa:01", ip="10.8.9.9")
    raw = nonce_in(client.get(UNKNOWN, REMOTE_ADDR="10.8.3.4").content.decode())
    hardware = {
        "nics": [
            {"name": "eth0", "mac": "52:54:00:de:ad:77", "physical": True},
            {"name": "eth1", "mac": "52:54:00:AA:AA:01", "physical": True},
        ]
    }
    response = agent(raw).post(
        "/api/v1/agent/hello/",
        {"worker_id": "52:54:00:de:ad:77", "hardware": hardware},
        format="json",
    )
    assert response.status_code == 200, response.content
    discovered = Machine.objects.get(state=MachineState.DISCOVERED)
    assert [i.mac for i in discovered.interfaces.all()] == ["52:54:00:de:ad:77"]
    assert [i.mac for i in owner.interfaces.all()] == ["52:54:00:aa:aa:01"]

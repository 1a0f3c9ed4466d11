"""``/ipxe/<mac>/auto.ipxe`` and ``/ipxe/auto.ipxe``: what a netbooting machine is served."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from builds.models import Build
from inventory.models import Machine
from netboot.services import BootTarget, hook_kernel_args
from rackpilot.core.models import Event
from tests.factories import MachineFactory, NetworkInterfaceFactory
from tests.netboot.conftest import PUBLIC_URL, make_default_build, make_machine, with_work
from workflows.agent_protocol.tokens import agent_token_authenticate
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


def kernel_line(script: str) -> str:
    (line,) = [line for line in script.splitlines() if line.startswith("kernel ")]
    return line


def kernel_args(script: str) -> list[str]:
    words = kernel_line(script).removesuffix(" && goto kernel_done ||").split()
    return words[2:]  # after "kernel <url>"


def token_of(args: list[str]) -> str:
    (token,) = [
        a.removeprefix("rackpilot_token=") for a in args if a.startswith("rackpilot_token=")
    ]
    return token


def test_bios_machine_gets_hook_script_with_hook_kernel_args(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    response = client.get("/ipxe/52-54-00-12-34-56/auto.ipxe", REMOTE_ADDR="10.0.2.15")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert "no-cache" in response["Cache-Control"] and "max-age=0" in response["Cache-Control"]
    script = response.content.decode()
    assert script.startswith("#!ipxe\n")
    assert kernel_line(script).startswith(f"kernel {PUBLIC_URL}/artifacts/x86_64/vmlinuz-x86_64 ")
    assert f"initrd {PUBLIC_URL}/artifacts/x86_64/initramfs-x86_64 && goto initrd_done ||" in script
    args = kernel_args(script)
    token = token_of(args)
    assert args == [
        "facility=fra1",
        "syslog_host=10.0.2.2",
        "grpc_authority=10.0.2.2:42113",
        "tinkerbell_tls=false",
        "worker_id=52:54:00:12:34:56",
        "hw_addr=52:54:00:12:34:56",
        f"rackpilot_url={PUBLIC_URL}",
        f"rackpilot_token={token}",
        "console=tty0",
        "console=ttyS0,115200",
    ]
    assert agent_token_authenticate(token).machine_id == bios_machine.pk


def test_uefi_machine_names_the_initrd_and_carries_vlan_and_extra_params(
    client: Client, uefi_machine: Machine, default_build: Build
) -> None:
    response = client.get("/ipxe/5254.00ab.cdef/auto.ipxe")

    assert response.status_code == 200
    args = kernel_args(response.content.decode())
    token = token_of(args)
    assert args == [
        "facility=ams2",
        "syslog_host=10.0.2.2",
        "grpc_authority=10.0.2.2:42113",
        "tinkerbell_tls=false",
        "worker_id=52:54:00:ab:cd:ef",
        "hw_addr=52:54:00:ab:cd:ef",
        "vlan_id=42",
        f"rackpilot_url={PUBLIC_URL}",
        f"rackpilot_token={token}",
        "initrd=initramfs-x86_64",
        "console=tty0",
        "console=ttyS0,115200",
        "intel_iommu=on",
        "iommu=pt",
    ]
    assert agent_token_authenticate(token).machine_id == uefi_machine.pk


def test_each_step_is_retried_with_a_pause_and_fails_loudly(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    script = client.get("/ipxe/52:54:00:12:34:56/auto.ipxe").content.decode()

    assert "set retries:int32 5" in script
    assert "set retry_delay:int32 2" in script
    for step in ("kernel", "initrd", "boot"):
        loop = script[script.index(f":retry_{step}\n") : script.index(f":{step}_done\n")]
        assert f"iseq ${{idx}} ${{retries}} && goto {step}_error ||" in loop
        assert "inc idx" in loop
        assert "sleep ${retry_delay}" in loop
        assert loop.rstrip().endswith(f"goto retry_{step}")
        failure = script[script.index(f":{step}_error\n") :]
        assert re.search(r"echo Rackpilot netboot failed: could not [a-z ]+ after", failure)
        assert "\nexit 1\n" in failure
    assert "\nboot && goto boot_done ||\n" in script


def test_configured_grpc_and_syslog_endpoints_are_used(
    client: Client, bios_machine: Machine, default_build: Build, settings
) -> None:
    settings.NETBOOT_GRPC_AUTHORITY = "tink.example:42113"
    settings.NETBOOT_SYSLOG_HOST = "10.0.0.9"
    args = kernel_args(client.get("/ipxe/525400123456/auto.ipxe").content.decode())
    assert "grpc_authority=tink.example:42113" in args
    assert "syslog_host=10.0.0.9" in args


def test_each_script_carries_a_fresh_token_of_the_configured_lifetime(
    client: Client, bios_machine: Machine, default_build: Build, settings
) -> None:
    settings.NETBOOT_TOKEN_TTL_SECONDS = 600
    first = token_of(kernel_args(client.get("/ipxe/525400123456/auto.ipxe").content.decode()))
    second = token_of(kernel_args(client.get("/ipxe/525400123456/auto.ipxe").content.decode()))
    assert first != second
    token = agent_token_authenticate(second)
    lifetime = (token.expires_at - token.created_at).total_seconds()
    assert 599 <= lifetime <= 601


def test_aarch64_machine_boots_the_aarch64_default_build(
    client: Client, default_build: Build
) -> None:
    make_default_build("aarch64")
    with_work(make_machine(mac="52:54:00:00:aa:01", ip="10.0.3.5", arch="aarch64"))
    script = client.get("/ipxe/52:54:00:00:aa:01/auto.ipxe").content.decode()
    assert kernel_line(script).startswith(f"kernel {PUBLIC_URL}/artifacts/aarch64/vmlinuz-aarch64 ")
    assert f"initrd {PUBLIC_URL}/artifacts/aarch64/initramfs-aarch64 " in script


# --- overrides ---------------------------------------------------------------------------------


def test_custom_script_is_served_verbatim_without_a_default_build(client: Client) -> None:
    custom = "#!ipxe\necho my own boot\nsanboot --no-describe --drive 0x80\n"
    make_machine(mac="52:54:00:00:00:0c", ip="10.0.9.1", ipxe_script=custom)
    response = client.get("/ipxe/52:54:00:00:00:0c/auto.ipxe")
    assert response.status_code == 200
    assert response.content.decode() == custom


def test_ipxe_url_is_chained(client: Client, default_build: Build) -> None:
    make_machine(mac="52:54:00:00:00:0d", ip="10.0.9.2", ipxe_url="http://10.0.2.2:9000/x.ipxe")
    response = client.get("/ipxe/52:54:00:00:00:0d/auto.ipxe")
    assert response.content.decode() == "#!ipxe\n\nchain --autofree http://10.0.2.2:9000/x.ipxe\n"


def test_custom_script_wins_over_chain_url(client: Client) -> None:
    make_machine(
        mac="52:54:00:00:00:0e",
        ip="10.0.9.3",
        ipxe_script="#!ipxe\nexit\n",
        ipxe_url="http://10.0.2.2:9000/x.ipxe",
    )
    assert client.get("/ipxe/52:54:00:00:00:0e/auto.ipxe").content == b"#!ipxe\nexit\n"


# --- refusals ----------------------------------------------------------------------------------


def assert_404(response, reason: str) -> None:
    assert response.status_code == 404
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert reason in response.content.decode()


def test_unknown_mac_is_404(client: Client, default_build: Build) -> None:
    assert_404(
        client.get("/ipxe/52:54:00:99:99:99/auto.ipxe"),
        "no machine has an interface with MAC 52:54:00:99:99:99",
    )


def test_malformed_mac_is_404(client: Client) -> None:
    assert_404(client.get("/ipxe/not-a-mac/auto.ipxe"), "'not-a-mac' is not a MAC address")


def test_allow_pxe_off_is_404(client: Client, default_build: Build) -> None:
    make_machine(hostname="locked", mac="52:54:00:00:00:01", ip="10.0.9.9", allow_pxe=False)
    assert_404(client.get("/ipxe/52:54:00:00:00:01/auto.ipxe"), "allow_pxe is off for locked")


def test_allow_pxe_off_also_refuses_overrides(client: Client) -> None:
    make_machine(
        mac="52:54:00:00:00:02", ip="10.0.9.8", allow_pxe=False, ipxe_script="#!ipxe\nexit\n"
    )
    assert_404(client.get("/ipxe/52:54:00:00:00:02/auto.ipxe"), "allow_pxe is off")


def test_no_default_build_for_the_arch_is_404(client: Client, default_build: Build) -> None:
    with_work(make_machine(mac="52:54:00:00:00:03", ip="10.0.9.7", arch="aarch64"))
    assert_404(client.get("/ipxe/52:54:00:00:00:03/auto.ipxe"), "no default build for arch aarch64")


def test_default_build_without_artifacts_is_404(client: Client, bios_machine: Machine) -> None:
    build = make_default_build(names=("vmlinuz-x86_64",))
    assert_404(
        client.get("/ipxe/52:54:00:12:34:56/auto.ipxe"),
        f"the default x86_64 build #{build.pk} has no initramfs-x86_64",
    )


def test_refusals_issue_no_token_and_record_nothing(client: Client) -> None:
    with_work(make_machine(mac="52:54:00:00:00:04", ip="10.0.9.6"))  # no default build
    client.get("/ipxe/52:54:00:00:00:04/auto.ipxe")
    assert not Event.objects.filter(verb__in=["agent_token.issued", "netboot.script_served"])


# --- by source IP ------------------------------------------------------------------------------


def test_script_by_source_ip(
    client: Client, bios_machine: Machine, uefi_machine: Machine, default_build: Build
) -> None:
    script = client.get("/ipxe/auto.ipxe", REMOTE_ADDR="10.0.2.16").content.decode()
    args = kernel_args(script)
    assert "worker_id=52:54:00:ab:cd:ef" in args
    assert agent_token_authenticate(token_of(args)).machine_id == uefi_machine.pk


def test_unknown_source_ip_is_404(client: Client, bios_machine: Machine) -> None:
    assert_404(
        client.get("/ipxe/auto.ipxe", REMOTE_ADDR="10.0.2.99"),
        "no machine has an interface with IP 10.0.2.99",
    )


def test_by_ip_prefers_the_boot_interface(client: Client, default_build: Build) -> None:
    machine = MachineFactory()
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:00:01:01", ip="10.1.1.1", is_boot=False)
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:00:01:02", ip="10.1.1.1", is_boot=True)
    with_work(machine)
    args = kernel_args(client.get("/ipxe/auto.ipxe", REMOTE_ADDR="10.1.1.1").content.decode())
    assert "worker_id=52:54:00:00:01:02" in args


# --- timeline and last seen --------------------------------------------------------------------


def test_served_script_marks_seen_and_records_a_boot_event(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    assert bios_machine.last_seen is None
    client.get("/ipxe/52:54:00:12:34:56/auto.ipxe", REMOTE_ADDR="10.0.2.15")

    bios_machine.refresh_from_db()
    assert bios_machine.last_seen is not None
    event = Event.objects.get(verb="netboot.script_served")
    assert event.machine_id == bios_machine.pk
    assert event.changes == {
        "script": "hook",
        "mac": "52:54:00:12:34:56",
        "source_ip": "10.0.2.15",
        "build": default_build.pk,
        "workflow": Workflow.objects.get(machine=bios_machine).pk,
    }
    assert Event.objects.filter(verb="agent_token.issued", machine=bios_machine).count() == 1


def test_override_scripts_are_recorded_too(client: Client) -> None:
    machine = make_machine(mac="52:54:00:00:00:0f", ip="10.0.9.4", ipxe_url="http://h/x.ipxe")
    client.get("/ipxe/52:54:00:00:00:0f/auto.ipxe")
    event = Event.objects.get(verb="netboot.script_served", machine=machine)
    assert event.changes["script"] == "chain"


def test_script_query_count_is_small_and_constant(
    client: Client, default_build: Build, django_assert_num_queries
) -> None:
    with_work(make_machine(mac="52:54:00:00:10:00", ip="10.5.0.2"))
    client.get("/ipxe/52:54:00:00:10:00/auto.ipxe")  # warms the content-type cache
    with django_assert_num_queries(QUERIES_PER_SCRIPT):
        client.get("/ipxe/52:54:00:00:10:00/auto.ipxe")
    for n in range(1, 50):
        with_work(make_machine(mac=f"52:54:00:00:10:{n:02x}", ip=f"10.5.0.{n + 2}"))
    with django_assert_num_queries(QUERIES_PER_SCRIPT):
        client.get("/ipxe/52:54:00:00:10:31/auto.ipxe")
    # By source address: the interface holding it first (one more).
    with django_assert_num_queries(QUERIES_PER_SCRIPT + 1):
        client.get("/ipxe/auto.ipxe", REMOTE_ADDR="10.5.0.40")


# Interface, machine, site, unfinished workflow and default build (with its servable files) in
# one statement, the nonce, both events in one insert and the last_seen update (written in the
# test's transaction; a server writes them with other scripts' in the group commit's).
QUERIES_PER_SCRIPT = 4


def test_an_arm_machine_gets_its_serial_console_on_the_arm_uart() -> None:
    arm = hook_kernel_args(
        target=BootTarget(mac="52:54:00:a6:40:01", arch="aarch64", uefi=True), token="rpa_x"
    ).split()
    x86 = hook_kernel_args(target=BootTarget(mac="52:54:00:a6:40:02", arch="x86_64"), token="x")
    assert arm[-2:] == ["console=tty0", "console=ttyAMA0,115200"]
    assert x86.split()[-2:] == ["console=tty0", "console=ttyS0,115200"]

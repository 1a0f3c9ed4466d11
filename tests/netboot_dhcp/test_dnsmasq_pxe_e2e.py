"""dnsmasq fed by ``export_dhcp`` hands a qemu guest its reserved address and boot file.

The recipe is ENVIRONMENT.md's "Layer-2 PXE with a real DHCP server": a network namespace of
our own with a tap device, dnsmasq bound to it and qemu's iPXE ROM on the other end. qemu's ROM
already is iPXE, so the boot file it must get is the HTTP script URL (the loop breaker).
"""

from __future__ import annotations

import ipaddress
import os
import re
import shutil
import subprocess
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import MachineFactory, NetworkInterfaceFactory
from tests.tools import require_tool, stop_process

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MAC = "52:54:00:12:34:56"
UNKNOWN_MAC = "52:54:00:65:43:21"
RESERVED_IP = "10.77.0.50"
POOL = "10.77.0.100-10.77.0.120"
BOOTFILE = "option: 67 bootfile-name  http://10.77.0.1:8000/ipxe/${mac}/auto.ipxe"
HOST_IP = "10.77.0.1"  # the namespace side of the tap device; nothing else is reachable
IPXE_ROM = Path("/usr/lib/ipxe/qemu/efi-virtio.rom")


def _tool(name: str) -> str | None:
    return shutil.which(name) or next(
        (str(p) for p in (Path("/usr/sbin") / name, Path("/sbin") / name) if p.exists()), None
    )


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


@pytest.fixture
def namespace() -> Iterator[str]:
    require_tool(os.geteuid() == 0, "root (to create a network namespace)")
    require_tool(_tool("ip") is not None, "ip (iproute2)")
    name = f"rp-dhcp-{os.getpid()}"
    _ip("netns", "add", name)
    try:
        for command in (
            ["link", "set", "lo", "up"],
            ["tuntap", "add", "dev", "tap0", "mode", "tap"],
            ["link", "set", "tap0", "up"],
            ["addr", "add", f"{HOST_IP}/24", "dev", "tap0"],
            # With router advertisements on an IPv6 ULA, iPXE does not wait ~16 s for them.
            ["-6", "addr", "add", "fd52:7270::1/64", "dev", "tap0"],
        ):
            _ip("netns", "exec", name, "ip", *command)
        yield name
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False, timeout=30)


def boot_against_dnsmasq(
    *, namespace: str, tmp_path: Path, mac: str, until: re.Pattern[str]
) -> tuple[str, re.Match[str] | None]:
    """Export, start dnsmasq in the namespace and a guest with ``mac`` on the tap device; stop
    both once dnsmasq's log matches ``until`` (or after 90 s). Returns the log and the match."""
    dnsmasq, qemu = _tool("dnsmasq"), _tool("qemu-system-x86_64")
    require_tool(dnsmasq is not None, "dnsmasq (apt-get install dnsmasq-base)")
    require_tool(qemu is not None and IPXE_ROM.exists(), "qemu-system-x86 and ipxe-qemu")
    assert dnsmasq is not None and qemu is not None
    config, log = tmp_path / "rackpilot.conf", tmp_path / "dnsmasq.log"
    call_command(
        "export_dhcp",
        "--format",
        "dnsmasq",
        "--discovery-pool",
        POOL,
        "--output",
        str(config),
        stderr=StringIO(),
    )
    with log.open("wb") as log_file:
        server = subprocess.Popen(
            ["ip", "netns", "exec", namespace, dnsmasq, "--no-daemon", f"--conf-file={config}",
             "--interface=tap0", "--bind-interfaces", "--port=0", "--log-dhcp",
             "--log-facility=-", "--user=root", f"--dhcp-leasefile={tmp_path / 'leases'}",
             f"--pid-file={tmp_path / 'dnsmasq.pid'}", "--enable-ra",
             "--dhcp-range=::,constructor:tap0,ra-only"],
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )  # fmt: skip
        guest = None
        try:
            time.sleep(0.5)
            guest = subprocess.Popen(
                ["ip", "netns", "exec", namespace, qemu, "-accel", "tcg", "-boot", "n",
                 "-m", "256", "-nographic", "-no-reboot",
                 "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                 "-device", f"virtio-net-pci,netdev=n0,mac={mac}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            deadline = time.monotonic() + 90
            while until.search(log.read_text()) is None and time.monotonic() < deadline:
                assert server.poll() is None, log.read_text()
                time.sleep(0.5)
        finally:
            if guest is not None:
                stop_process(guest)
            stop_process(server)
    text = log.read_text()
    return text, until.search(text)


def reply_lines(text: str, acked_line: str) -> list[str]:
    """dnsmasq's log lines about the transaction that ended in ``acked_line``."""
    ack_id = next(line for line in text.splitlines() if acked_line in line).split()[4]
    return [line for line in text.splitlines() if f" {ack_id} " in line]


@pytest.mark.parametrize("allow_pxe", [True, False], ids=["pxe-allowed", "pxe-denied"])
def test_guest_gets_the_reserved_ip_and_the_script_url(
    namespace: str, tmp_path: Path, settings: pytest.FixtureRequest, allow_pxe: bool
) -> None:
    settings.RACKPILOT_PUBLIC_URL = f"http://{HOST_IP}:8000"  # type: ignore[attr-defined]
    NetworkInterfaceFactory(
        machine=MachineFactory(hostname="pxe-guest", allow_pxe=allow_pxe),
        mac=MAC,
        ip=RESERVED_IP,
        gateway=HOST_IP,
    )
    acked = f"DHCPACK(tap0) {RESERVED_IP} {MAC} pxe-guest"

    text, found = boot_against_dnsmasq(
        namespace=namespace, tmp_path=tmp_path, mac=MAC, until=re.compile(re.escape(acked))
    )

    assert found is not None, text
    reply = reply_lines(text, acked)
    assert any("tags:" in line and "ipxe" in line for line in reply), text
    assert any(BOOTFILE in line for line in reply) is allow_pxe, text


def test_an_unknown_guest_leases_from_the_discovery_pool_and_gets_the_script_url(
    namespace: str, tmp_path: Path, settings: pytest.FixtureRequest
) -> None:
    settings.RACKPILOT_PUBLIC_URL = f"http://{HOST_IP}:8000"  # type: ignore[attr-defined]
    NetworkInterfaceFactory(
        machine=MachineFactory(hostname="known"), mac=MAC, ip=RESERVED_IP, gateway=HOST_IP
    )

    text, found = boot_against_dnsmasq(
        namespace=namespace,
        tmp_path=tmp_path,
        mac=UNKNOWN_MAC,
        until=re.compile(rf"DHCPACK\(tap0\) (10\.77\.0\.\d+) {UNKNOWN_MAC}"),
    )

    assert found is not None, text
    leased = ipaddress.IPv4Address(found[1])
    assert ipaddress.IPv4Address("10.77.0.100") <= leased <= ipaddress.IPv4Address("10.77.0.120")
    reply = reply_lines(text, found[0])
    assert any(BOOTFILE in line for line in reply), text

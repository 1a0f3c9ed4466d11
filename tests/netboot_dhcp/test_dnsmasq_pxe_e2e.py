"""dnsmasq fed by ``export_dhcp`` hands a qemu guest its reserved address and boot file.

The recipe is ENVIRONMENT.md's "Layer-2 PXE with a real DHCP server": a network namespace of
our own with a tap device, dnsmasq bound to it and qemu's iPXE ROM on the other end. qemu's ROM
already is iPXE, so the boot file it must get is the HTTP script URL (the loop breaker).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import MachineFactory, NetworkInterfaceFactory
from tests.tools import require_tool

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

MAC = "52:54:00:12:34:56"
RESERVED_IP = "10.77.0.50"
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


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


@pytest.mark.parametrize("allow_pxe", [True, False], ids=["pxe-allowed", "pxe-denied"])
def test_guest_gets_the_reserved_ip_and_the_script_url(
    namespace: str, tmp_path: Path, settings: pytest.FixtureRequest, allow_pxe: bool
) -> None:
    dnsmasq, qemu = _tool("dnsmasq"), _tool("qemu-system-x86_64")
    require_tool(dnsmasq is not None, "dnsmasq (apt-get install dnsmasq-base)")
    require_tool(qemu is not None and IPXE_ROM.exists(), "qemu-system-x86 and ipxe-qemu")
    assert dnsmasq is not None and qemu is not None
    settings.RACKPILOT_PUBLIC_URL = f"http://{HOST_IP}:8000"  # type: ignore[attr-defined]
    NetworkInterfaceFactory(
        machine=MachineFactory(hostname="pxe-guest", allow_pxe=allow_pxe),
        mac=MAC,
        ip=RESERVED_IP,
        gateway=HOST_IP,
    )
    config, log = tmp_path / "rackpilot.conf", tmp_path / "dnsmasq.log"
    call_command("export_dhcp", "--format", "dnsmasq", "--output", str(config), stderr=StringIO())

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
                 "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )  # fmt: skip
            acked = f"DHCPACK(tap0) {RESERVED_IP} {MAC} pxe-guest"
            deadline = time.monotonic() + 90
            while acked not in log.read_text() and time.monotonic() < deadline:
                assert server.poll() is None, log.read_text()
                time.sleep(0.5)
        finally:
            if guest is not None:
                _stop(guest)
            _stop(server)

    text = log.read_text()
    assert acked in text, text
    ack_id = next(line for line in text.splitlines() if acked in line).split()[4]
    reply = [line for line in text.splitlines() if f" {ack_id} " in line]
    assert any("tags:" in line and "ipxe" in line for line in reply), text
    bootfile = f"option: 67 bootfile-name  http://{HOST_IP}:8000/ipxe/${{mac}}/auto.ipxe"
    assert any(bootfile in line for line in reply) is allow_pxe, text

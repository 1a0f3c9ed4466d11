"""Kea serving ``export_dhcp --format kea`` hands a qemu guest its reserved address and script.

The dnsmasq end-to-end test's set-up (a network namespace of our own with a tap device, qemu's
iPXE ROM on the other end) with kea-dhcp4 as the DHCP server. The exported document is used as
it is, plus what only a test run needs: the interface to listen on, leases in memory and the
log on stdout. A small HTTP server on the namespace's address stands in for Rackpilot, so the
test sees iPXE ask for the script URL Kea gave it, with ``${mac}`` expanded. dnsmasq runs
beside Kea for IPv6 router advertisements only, which spares iPXE a ~16 s wait.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

from tests.factories import MachineFactory, NetworkInterfaceFactory
from tests.netboot_dhcp.test_dnsmasq_pxe_e2e import _tool, namespace
from tests.tools import require_tool, stop_process

pytestmark = [pytest.mark.django_db, pytest.mark.e2e]

__all__ = ["namespace"]  # the fixture, shared with the dnsmasq test

MAC = "52:54:00:12:34:56"
RESERVED_IP = "10.77.0.50"
HOST_IP = "10.77.0.1"  # the namespace side of the tap device; nothing else is reachable
HTTP_PORT = 8000
# Shorter than the subnet's usual lease: Kea has no per-host lifetime, the export gives the
# host a reserved class that carries it, and this proves Kea applies it.
LEASE_SECONDS = 600
IPXE_ROM = Path("/usr/lib/ipxe/qemu/efi-virtio.rom")
SCRIPT_MARKER = "KEA-SCRIPT-FETCHED"
WAIT_SECONDS = 90


def add_test_run_settings(dhcp4: dict[str, object]) -> None:
    """What a test run needs on top of the export (an operator's own settings in production)."""
    dhcp4["interfaces-config"] = {"interfaces": ["tap0"], "dhcp-socket-type": "raw"}
    dhcp4["lease-database"] = {"type": "memfile", "persist": False}
    dhcp4["loggers"] = [
        {"name": "kea-dhcp4", "output_options": [{"output": "stdout"}], "severity": "INFO"}
    ]


def _carrier(namespace: str) -> bool:
    link = subprocess.run(
        ["ip", "netns", "exec", namespace, "ip", "link", "show", "tap0"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    return "LOWER_UP" in link.stdout and "NO-CARRIER" not in link.stdout


def _wait_for(condition: Callable[[], bool], what: str, log: Path, console: Path) -> None:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.5)
    pytest.fail(
        f"no {what} within {WAIT_SECONDS} s\nKea and HTTP log:\n{log.read_text()}\n"
        f"console:\n{console.read_text(errors='replace')}"
    )


@pytest.mark.parametrize("allow_pxe", [True, False], ids=["pxe-allowed", "pxe-denied"])
def test_guest_gets_the_reserved_ip_lease_time_and_the_script_url(
    namespace: str, tmp_path: Path, settings: pytest.FixtureRequest, allow_pxe: bool
) -> None:
    kea, qemu, dnsmasq = _tool("kea-dhcp4"), _tool("qemu-system-x86_64"), _tool("dnsmasq")
    require_tool(kea is not None, "kea-dhcp4 (Debian package kea-dhcp4-server)")
    require_tool(dnsmasq is not None, "dnsmasq (apt-get install dnsmasq-base)")
    require_tool(qemu is not None and IPXE_ROM.exists(), "qemu-system-x86 and ipxe-qemu")
    assert kea is not None and qemu is not None and dnsmasq is not None
    settings.RACKPILOT_PUBLIC_URL = f"http://{HOST_IP}:{HTTP_PORT}"  # type: ignore[attr-defined]
    NetworkInterfaceFactory(
        machine=MachineFactory(hostname="pxe-guest", allow_pxe=allow_pxe),
        mac=MAC,
        ip=RESERVED_IP,
        gateway=HOST_IP,
        lease_time=LEASE_SECONDS,
    )
    # Two neighbours with the usual lease, so the subnet's default is not the guest's.
    for number in (1, 2):
        NetworkInterfaceFactory(
            machine=MachineFactory(hostname=f"neighbour-{number}"),
            mac=f"52:54:00:12:35:0{number}",
            ip=f"10.77.0.{60 + number}",
            gateway=HOST_IP,
        )
    stdout = StringIO()
    call_command("export_dhcp", "--format", "kea", stdout=stdout, stderr=StringIO())
    document = json.loads(stdout.getvalue())
    add_test_run_settings(document["Dhcp4"])
    config, log, console = tmp_path / "kea.json", tmp_path / "kea.log", tmp_path / "console.log"
    config.write_text(json.dumps(document, indent=2))
    www = tmp_path / "www"
    (www / "ipxe" / MAC).mkdir(parents=True)
    (www / "ipxe" / MAC / "auto.ipxe").write_text(f"#!ipxe\necho {SCRIPT_MARKER}\n")
    # Kea writes its pid and logger lock files there; the defaults are system directories.
    env = {**os.environ, "KEA_PIDFILE_DIR": str(tmp_path), "KEA_LOCKFILE_DIR": str(tmp_path)}

    in_namespace = ["ip", "netns", "exec", namespace]
    http_command = [*in_namespace, sys.executable, "-m", "http.server", str(HTTP_PORT),
                    "--bind", HOST_IP, "--directory", str(www)]  # fmt: skip
    qemu_command = [*in_namespace, qemu, "-accel", "tcg", "-boot", "n", "-m", "256",
                    "-nographic", "-no-reboot",
                    "-netdev", "tap,id=n0,ifname=tap0,script=no,downscript=no",
                    "-device", f"virtio-net-pci,netdev=n0,mac={MAC}"]  # fmt: skip
    # Router advertisements only (DHCP off: --port=0 and no IPv4 range), else iPXE waits
    # ~16 s for them before it uses its IPv4 lease; Kea has no IPv6 part for that.
    ra_command = [*in_namespace, dnsmasq, "--no-daemon", "--conf-file=/dev/null",
                  "--interface=tap0", "--bind-interfaces", "--port=0", "--user=root",
                  f"--pid-file={tmp_path / 'ra.pid'}", "--enable-ra",
                  "--dhcp-range=::,constructor:tap0,ra-only"]  # fmt: skip
    processes: list[subprocess.Popen[bytes]] = []
    with log.open("wb") as log_file, console.open("wb") as console_file:
        try:
            processes.append(
                subprocess.Popen(http_command, stdout=subprocess.DEVNULL, stderr=log_file)
            )
            processes.append(
                subprocess.Popen(ra_command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            )
            # qemu first: Kea only listens on a tap device that has a carrier, which it gets
            # once qemu opens it; the ROM's first DHCP request comes seconds later.
            processes.append(
                subprocess.Popen(
                    qemu_command,
                    stdin=subprocess.DEVNULL,
                    stdout=console_file,
                    stderr=subprocess.STDOUT,
                )
            )
            _wait_for(lambda: _carrier(namespace), "carrier on tap0", log, console)
            kea_process = subprocess.Popen(
                [*in_namespace, kea, "-c", str(config)],
                stdout=log_file,
                stderr=subprocess.STDOUT,
                env=env,
            )
            processes.append(kea_process)
            _wait_for(
                lambda: "DHCP4_STARTED" in log.read_text() or kea_process.poll() is not None,
                "Kea start",
                log,
                console,
            )
            assert kea_process.poll() is None, log.read_text()
            # Kea starts even when it could not open its socket; that would be a silent no.
            assert "DHCPSRV_NO_SOCKETS_OPEN" not in log.read_text(), log.read_text()
            # Done when iPXE ran the script, or gave up and handed back to the BIOS.
            _wait_for(
                lambda: any(
                    m in console.read_text(errors="replace")
                    for m in (SCRIPT_MARKER, "No bootable device")
                ),
                "end of the network boot",
                log,
                console,
            )
        finally:
            for process in reversed(processes):
                stop_process(process)

    text, screen = log.read_text(), console.read_text(errors="replace")
    context = f"Kea and HTTP log:\n{text}\nconsole:\n{screen}"
    allocated = f"lease {RESERVED_IP} has been allocated for {LEASE_SECONDS} seconds"
    assert any("DHCP4_LEASE_ALLOC" in line and allocated in line for line in text.splitlines()), (
        context
    )
    assert f"net0: {RESERVED_IP}/255.255.255.0 gw {HOST_IP}" in screen, context
    # iPXE fetched the URL from the ipxe class, ${mac} expanded; a denied machine gets none.
    fetched = f'"GET /ipxe/{MAC.replace(":", "%3A")}/auto.ipxe HTTP/1.1" 200'
    assert (fetched in text) is allow_pxe, context
    assert (SCRIPT_MARKER in screen) is allow_pxe, context

"""A BIOS virtual machine PXE-boots from a running Rackpilot and its init calls back.

qemu's own iPXE ROM (under SeaBIOS) asks the server for the machine's script, fetches the
kernel and the initramfs of the default x86_64 build (made by the real builder from images
pushed to a local registry), and the booted init reads its token from /proc/cmdline and says
hello to the agent API. tests/netboot/qemu.py has the images, fixtures and the qemu runner.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from builds.models import Build
from tests.live_server import AsgiLiveServer
from tests.netboot.conftest import make_machine, with_work
from tests.netboot.qemu import (
    CMDLINE,
    FIRMWARE,
    GUEST_SOURCE_IP,
    HELLO,
    QEMU,
    assert_said_hello,
    console_value,
    network_args,
    run_qemu,
)

MAC = "52:54:00:12:34:56"
HOSTNAME = "pxe-qemu-01"
QEMU_TIMEOUT = 120


@pytest.mark.e2e
@pytest.mark.timeout(280)
@pytest.mark.django_db(transaction=True)
def test_qemu_pxe_boots_the_default_build_and_says_hello(
    default_hook_build: Build,
    pxe_server: AsgiLiveServer,
    record_property: Callable[[str, object], None],
) -> None:
    machine = with_work(make_machine(hostname=HOSTNAME, mac=MAC, ip=GUEST_SOURCE_IP))
    assert machine.last_seen is None

    run = run_qemu(
        [QEMU, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot", "-boot", "n",
         *network_args(port=pxe_server.port, mac=MAC)],
        timeout=QEMU_TIMEOUT,
        watch=[HELLO],
    )  # fmt: skip
    record_property("qemu_seconds", round(run.seconds, 1))

    context = assert_said_hello(
        machine=machine, run=run, server=pxe_server, hostname=HOSTNAME, mac=MAC
    )
    assert console_value(run.console, FIRMWARE) == "bios", context
    # A BIOS machine's script does not name the initrd on the kernel command line.
    args = (console_value(run.console, CMDLINE) or "").split()
    assert f"worker_id={MAC}" in args, context
    assert not any(a.startswith("initrd=") for a in args), context

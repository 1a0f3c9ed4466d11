"""A UEFI virtual machine PXE-boots from a running Rackpilot and its init calls back.

The BIOS test's boot under OVMF on q35: the UEFI driver of qemu's iPXE ROM fetches the
machine's script and boots the default build's kernel through its EFI stub. That iPXE only
hands the initrd over when the kernel command line names it, so the script for a UEFI machine
must carry ``initrd=initramfs-x86_64`` — without it the kernel finds no init and panics.
Needs the ovmf package on top of what tests/netboot/qemu.py needs.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

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
from tests.tools import require_tool

MAC = "52:54:00:12:34:58"
HOSTNAME = "pxe-qemu-uefi-01"
OVMF_CODE = Path("/usr/share/OVMF/OVMF_CODE_4M.fd")
OVMF_VARS = Path("/usr/share/OVMF/OVMF_VARS_4M.fd")
# OVMF's start-up under software emulation adds ~10 s to the BIOS boot.
QEMU_TIMEOUT = 180


@pytest.fixture
def ovmf_vars(tmp_path: Path) -> Path:
    """A writable copy of the UEFI variable store: OVMF writes its boot entries there."""
    require_tool(OVMF_CODE.exists() and OVMF_VARS.exists(), f"{OVMF_CODE} (Debian package ovmf)")
    copy = tmp_path / "OVMF_VARS.fd"
    shutil.copyfile(OVMF_VARS, copy)
    return copy


@pytest.mark.e2e
@pytest.mark.timeout(300)
@pytest.mark.django_db(transaction=True)
def test_qemu_uefi_pxe_boots_the_default_build_and_says_hello(
    ovmf_vars: Path,
    default_hook_build: Build,
    pxe_server: AsgiLiveServer,
    record_property: Callable[[str, object], None],
) -> None:
    machine = with_work(make_machine(hostname=HOSTNAME, mac=MAC, ip=GUEST_SOURCE_IP, uefi=True))
    assert machine.last_seen is None

    run = run_qemu(
        [QEMU, "-machine", "q35", "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
         "-drive", f"if=pflash,format=raw,unit=0,readonly=on,file={OVMF_CODE}",
         "-drive", f"if=pflash,format=raw,unit=1,file={ovmf_vars}",
         *network_args(port=pxe_server.port, mac=MAC)],
        timeout=QEMU_TIMEOUT,
        watch=["iPXE", "auto.ipxe", HELLO],
    )  # fmt: skip
    record_property("qemu_seconds", round(run.seconds, 1))
    print(f"UEFI boot: {run.seconds:.1f} s to power-off; console milestones {run.seen}")

    context = assert_said_hello(
        machine=machine, run=run, server=pxe_server, hostname=HOSTNAME, mac=MAC
    )
    # The kernel came up through UEFI, not a legacy BIOS path of the firmware.
    assert console_value(run.console, FIRMWARE) == "efi", context
    args = (console_value(run.console, CMDLINE) or "").split()
    assert "initrd=initramfs-x86_64" in args, context
    assert f"worker_id={MAC}" in args, context

"""A virtual machine nobody has entered PXE-boots and ends up in the inventory as discovered.

qemu's iPXE asks for the script of a MAC the inventory does not know; with discovery on, the
server first asks iPXE for its arch and firmware (a chain with ``${buildarch}`` and
``${platform}``), then serves the default build with a discovery token. The booted init reports
what it is made of (memory, its virtio disk, its NIC, DMI) in its hello, which enrols the
machine; a discovery rule that matches the reported attributes accepts it and starts a workflow.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from builds.models import Build
from inventory.models import Machine
from inventory.states import MachineState
from netboot.discovery import discovery_rule_create
from rackpilot.core.models import Event
from tests.live_server import AsgiLiveServer
from tests.netboot.qemu import (
    HARDWARE,
    HELLO,
    QEMU,
    SYSTEM,
    console_value,
    network_args,
    run_qemu,
)
from tests.workflows.conftest import TWO_ACTIONS
from workflows.models import Workflow
from workflows.services import templates as template_services

MAC = "52:54:00:d1:5c:77"
HOSTNAME = "discovered-525400d15c77"
DISK_BYTES = 64 * 1024 * 1024
QEMU_TIMEOUT = 120


@pytest.fixture
def discovery_on(settings: Any) -> None:
    # Before pxe_server: the server takes the switch from the test's settings at start.
    settings.NETBOOT_DISCOVERY = True
    settings.NETBOOT_DISCOVERY_SUBNETS = ["127.0.0.0/8"]  # where test clients ask from


@pytest.mark.e2e
@pytest.mark.timeout(280)
@pytest.mark.django_db(transaction=True)
def test_an_unknown_machine_boots_into_discovery_and_is_enrolled(
    discovery_on: None,
    default_hook_build: Build,
    pxe_server: AsgiLiveServer,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    template = template_services.template_create(actor=SYSTEM, name="install", body=TWO_ACTIONS)
    discovery_rule_create(
        actor=SYSTEM,
        name="qemu-guests",
        template=template,
        conditions="dmi.sys_vendor = QEMU\ndisks.count >= 1\nmemory_bytes >= 256M",
    )
    disk = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", str(DISK_BYTES), str(disk)], check=True)
    assert not Machine.objects.exists()

    run = run_qemu(
        [QEMU, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot", "-boot", "n",
         "-drive", f"file={disk},if=virtio,format=raw",
         *network_args(port=pxe_server.port, mac=MAC)],
        timeout=QEMU_TIMEOUT,
        watch=[HELLO],
    )  # fmt: skip
    record_property("qemu_seconds", round(run.seconds, 1))
    context = f"console:\n{run.console}\n\nserver output:\n{pxe_server.output()}"

    hello = console_value(run.console, HELLO)
    assert hello, context
    assert json.loads(hello)["machine"] == HOSTNAME, context
    reported = json.loads(console_value(run.console, HARDWARE) or "{}")

    machine = Machine.objects.get(hostname=HOSTNAME)
    assert machine.hardware == reported, context
    assert machine.hardware["dmi"]["sys_vendor"] == "QEMU"
    assert machine.uefi is False  # the guest reported a BIOS boot
    assert [(i.mac, i.is_boot) for i in machine.interfaces.all()] == [(MAC, True)]
    assert [(d.device, d.size_bytes) for d in machine.disks.all()] == [("/dev/vda", DISK_BYTES)]
    assert machine.last_seen is not None

    # The script was asked for twice: the arch probe, then the discovery script proper.
    served = Event.objects.get(verb="netboot.discovery_script_served")
    assert (served.changes["mac"], served.changes["arch"]) == (MAC, "x86_64"), context
    assert served.changes["platform"] == "pcbios", context
    # The rule took it: accepted and a workflow waiting for its agent.
    machine.refresh_from_db()
    assert machine.state == MachineState.READY, context
    workflow = Workflow.objects.get(machine=machine)
    assert workflow.template == template
    verbs = list(
        Event.objects.filter(machine=machine)
        .order_by("timestamp", "pk")
        .values_list("verb", flat=True)
    )
    for earlier, later in [
        ("machine.discovered", "discovery.rule_applied"),
        ("discovery.rule_applied", "agent.connected"),
    ]:
        assert verbs.index(earlier) < verbs.index(later), verbs

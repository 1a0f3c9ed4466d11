"""A machine provisions itself end to end with the Hook Rackpilot ships, driven from the
dashboard as an operator would, on real components (software emulation: qemu -accel tcg).

- Rackpilot: daphne (the ASGI server), a Celery worker and beat, PostgreSQL or SQLite, Redis,
  a loopback OCI registry.
- The Hook: its base image built by build_hook_image's code (cached between runs), then a
  Celery build of the shipped recipe, which becomes the default build.
- The workflow: a Tinkerbell-style template whose actions take the environment of
  Tinkerbell's image2disk, writefile and reboot actions (tests/e2e/actions.py): stream a
  gzipped raw disk image over HTTP to the first disk, write /etc/hostname into its first
  partition, reboot.
- The operator, in Chromium: starts the workflow on the machine page; the first action fails
  because the image is not on the HTTP server yet (404), and the page says why; the image is
  put in place and the operator retries; the log panel fills while the actions run; the
  workflow ends in success, the machine reboots, netboot refuses it (PXE is off now) and it
  boots the installed system from its disk.
"""

from __future__ import annotations

import contextlib
import json
import re
import shutil
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, WebSocket, expect

from builds.hook.base_image import HookImages
from builds.hook.recipes import shipped_recipe_install
from builds.models import Build
from builds.services import lifecycle
from builds.states import BuildState
from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.e2e.actions import push_action_images
from tests.e2e.conftest import CeleryProcesses, FileServer
from tests.e2e.guest import Guest
from tests.e2e.installed_system import (
    INSTALLED_MARKER,
    build_disk_image,
    partition_table,
    read_file_from_partition,
    stat_file_in_partition,
)
from tests.factories import DiskFactory
from tests.live_server import ARTIFACTS, AsgiLiveServer, sign_in_page, signed_in_headers
from tests.netboot.conftest import make_machine
from tests.netboot.qemu import GUEST_SOURCE_IP, QEMU, network_args
from workflows.models import Action, Workflow
from workflows.services.templates import template_create
from workflows.states import ActionState, WorkflowState

SYSTEM = Actor.system("e2e")
MAC = "52:54:00:e2:e0:42"
HOSTNAME = "hook-e2e-01"
BUILD_FINISHED = {BuildState.SUCCESS, BuildState.FAILED, BuildState.CANCELLED}
IMAGE_NAME = "images/installed.raw.gz"
SCREENSHOTS = ARTIFACTS / "screenshots"
FIGURES = ARTIFACTS / "e2e-provisioning-figures.json"

TEMPLATE = """\
version: "0.1"
name: install-rackpilot-test-os
global_timeout: 1800
tasks:
  - name: os-installation
    worker: "{{{{.device_1}}}}"
    volumes:
      - /dev:/dev
    actions:
      - name: stream-image
        image: {images}/{image2disk}
        timeout: 600
        environment:
          IMG_URL: {image_url}
          DEST_DISK: "{{{{ index .Hardware.Disks 0 }}}}"
          COMPRESSED: true
      - name: write-hostname
        image: {images}/{writefile}
        timeout: 120
        environment:
          DEST_DISK: "{{{{ formatPartition ( index .Hardware.Disks 0 ) 1 }}}}"
          FS_TYPE: ext4
          DEST_PATH: /etc/hostname
          CONTENTS: "{{{{ (index .Hardware.Interfaces 0).DHCP.Hostname }}}}"
          UID: 0
          GID: 0
          MODE: 0644
          DIRMODE: 0755
      - name: reboot
        image: {images}/{reboot}
        timeout: 90
"""


def shipped_hook_build(images: HookImages, *, timeout: float = 300) -> Build:
    """A build of the shipped recipe, pointed at the test registry's images, queued as an
    operator queues one and run by the Celery worker."""
    recipe = shipped_recipe_install(
        arch="x86_64", actor=SYSTEM, kernel=images.kernel, base=images.base
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM, arch="x86_64")
    deadline = time.monotonic() + timeout
    while (build := Build.objects.get(pk=build.pk)).state not in BUILD_FINISHED:
        assert time.monotonic() < deadline, f"build #{build.pk} still {build.state}: {build.error}"
        time.sleep(1)
    assert build.state == BuildState.SUCCESS, build.error
    return build


class FrameLog:
    """Every frame the page's WebSockets receive, in order of arrival."""

    def __init__(self, page: Page) -> None:
        self.frames: list[dict[str, Any]] = []
        page.on("websocket", self._watch)

    def _watch(self, socket: WebSocket) -> None:
        socket.on("framereceived", self._received)

    def _received(self, payload: str | bytes) -> None:
        with contextlib.suppress(ValueError):
            self.frames.append(json.loads(payload))

    def received_lines_while_running(self, action: Action) -> bool:
        """Did lines of the action's attempt arrive before the frame that finished it?"""
        attempt = (action.pk, action.attempt)
        lines_seen = False
        for frame in list(self.frames):
            if frame.get("type") == "lines" and (frame["action"], frame["attempt"]) == attempt:
                lines_seen = lines_seen or bool(frame["lines"])
            state = frame.get("action") if frame.get("type") == "state" else None
            if state and (state["id"], state["attempt"]) == attempt and state["state"] == "success":
                return lines_seen
        return False


def wait_for_workflow(
    guest: Guest, workflow: Workflow, states: set[str], *, timeout: float
) -> tuple[Workflow, float]:
    seconds = guest.wait_for(
        f"workflow #{workflow.pk} to be {' or '.join(sorted(states))}",
        lambda: Workflow.objects.filter(pk=workflow.pk, state__in=states).exists(),
        timeout=timeout,
    )
    return Workflow.objects.get(pk=workflow.pk), seconds


def start_from_the_machine_page(page: Page, server: AsgiLiveServer, machine: Machine) -> int:
    page.goto(f"{server.url}/machines/{machine.pk}/")
    page.click("#start-workflow")
    page.select_option("#id_template", label="install-rackpilot-test-os")
    page.check("#id_disable_pxe_on_success")
    page.click("#start-form button[type=submit]")
    page.wait_for_url(re.compile(r"/workflows/\d+/$"))
    return int(page.get_attribute("#workflow-page", "data-workflow-id") or 0)


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
def test_a_machine_provisions_itself_from_the_dashboard_with_the_shipped_hook(
    celery_processes: CeleryProcesses,
    hook_images: HookImages,
    oci_registry: str,
    pxe_server: AsgiLiveServer,
    file_server: FileServer,
    page: Page,
    operator: Any,
    tmp_path: Path,
) -> None:
    started = time.monotonic()
    build = shipped_hook_build(hook_images)
    assert build.is_default
    initramfs = build.artifacts.get(name="initramfs-x86_64")
    figures: dict[str, float] = {"initramfs_bytes": initramfs.size}

    disk_image = build_disk_image(tmp_path / "os-image")
    registry_port = oci_registry.rsplit(":", 1)[1]
    guest_registry = f"10.0.2.2:{registry_port}"  # the host's loopback, seen from the guest
    images = push_action_images(oci_registry, tmp_path / "blob-cache")
    template_create(
        actor=SYSTEM,
        name="install-rackpilot-test-os",
        body=TEMPLATE.format(
            images=guest_registry, image_url=file_server.url_from_guest(IMAGE_NAME), **images
        ),
    )
    machine = make_machine(
        hostname=HOSTNAME,
        mac=MAC,
        ip=GUEST_SOURCE_IP,
        kernel_params=f"insecure_registries={guest_registry}",
    )
    machine.interfaces.update(hostname=HOSTNAME)  # the template's DHCP.Hostname
    DiskFactory(machine=machine, device="/dev/vda", size_bytes=2 * 1024**3)
    disk = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "2G", str(disk)], check=True)

    # The operator starts the workflow from the machine page and keeps the workflow page open.
    sign_in_page(page, pxe_server, operator)
    frames = FrameLog(page)
    workflow_id = start_from_the_machine_page(page, pxe_server, machine)
    workflow = Workflow.objects.get(pk=workflow_id, machine=machine)

    guest = Guest(
        [QEMU, "-accel", "tcg", "-m", "3072", "-smp", "2", "-nographic",
         *network_args(port=pxe_server.port, mac=MAC),
         "-drive", f"file={disk},if=none,format=raw,id=disk0",
         "-device", "virtio-blk-pci,drive=disk0,bootindex=2"],
        console_log=ARTIFACTS / "e2e-provisioning-console.log",
    )  # fmt: skip
    try:
        connected = guest.wait_for(
            "the agent's hello",
            lambda: Event.objects.filter(machine=machine, verb="agent.connected").exists(),
            timeout=480,
        )
        # 1. The image is not on the server yet: the first action fails and the page says why.
        workflow, _ = wait_for_workflow(guest, workflow, {WorkflowState.FAILED}, timeout=300)
        failure = workflow.failure_reason
        assert failure["action"] == "stream-image", failure
        assert failure["exit_code"] == 1, failure
        assert any("404" in line for line in failure["last_lines"]), failure
        expect(page.locator("#workflow-failure")).to_contain_text("stream-image")
        expect(page.locator("#failure-log")).to_contain_text("404")
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "e2e-workflow-failed.png"), full_page=True)
        api = requests.get(
            f"{pxe_server.url}/api/v1/workflows/{workflow.pk}/",
            headers=signed_in_headers(pxe_server, operator),
            timeout=10,
        )
        assert api.status_code == 200, api.text
        assert api.json()["failure_reason"]["exit_code"] == 1, api.json()
        assert "404" in "\n".join(api.json()["failure_reason"]["last_lines"]), api.json()

        # 2. The image is put in place; the operator retries from the page.
        (file_server.directory / IMAGE_NAME).parent.mkdir(parents=True)
        shutil.copy(disk_image.gzipped, file_server.directory / IMAGE_NAME)
        page.click("#workflow-commands form[action$='/retry/'] button")
        workflow, succeeded = wait_for_workflow(
            guest, workflow, {WorkflowState.SUCCESS, WorkflowState.FAILED}, timeout=420
        )
        assert workflow.state == WorkflowState.SUCCESS, workflow.failure_reason
        expect(page.locator("#workflow-status")).to_contain_text("Success")
        page.screenshot(path=str(SCREENSHOTS / "e2e-workflow-succeeded.png"), full_page=True)

        # 3. The reboot: PXE is off now, so netboot refuses the machine and it boots its disk.
        booted = guest.wait_for(
            "the installed system", lambda: INSTALLED_MARKER in guest.console, timeout=300
        )
    finally:
        guest.stop()
    figures.update(
        qemu_start_to_agent_connected_seconds=round(connected, 1),
        qemu_start_to_workflow_success_seconds=round(succeeded, 1),
        qemu_start_to_booted_from_disk_seconds=round(booted, 1),
        test_seconds=round(time.monotonic() - started, 1),
    )
    # Read by benchmarks/e2e_provisioning.py, printed with -s.
    FIGURES.write_text(json.dumps(figures, indent=2) + "\n")
    print(json.dumps(figures))
    console = guest.console
    context = f"console:\n{console[-6000:]}\n\nserver:\n{pxe_server.output()[-4000:]}"

    # The Hook: its init's console, and the boot timeline up to the agent's hardware report.
    assert "rackpilot-hook: dockerd is up" in console, context
    assert "rackpilot-hook: starting rackpilot-agent" in console, context
    machine = Machine.objects.get(pk=machine.pk)
    verbs = list(
        Event.objects.filter(machine=machine, verb__regex=r"^(netboot|agent)\.")
        .order_by("timestamp", "pk")
        .values_list("verb", flat=True)
    )
    assert verbs[:4] == [
        "netboot.script_served",
        "netboot.kernel_fetched",
        "netboot.initrd_fetched",
        "agent.connected",
    ], context
    disks = {disk["name"]: disk for disk in machine.hardware.get("disks", [])}
    assert disks.get("vda", {}).get("size_bytes") == 2 * 1024**3, (machine.hardware, context)
    assert MAC in {nic.get("mac") for nic in machine.hardware.get("nics", [])}, context

    # Every action of the retried run succeeded, and the browser got each one's lines over its
    # WebSocket before the frame that ended it.
    actions = list(Action.objects.filter(task__workflow=workflow).order_by("order"))
    assert [(a.name, a.state) for a in actions] == [
        ("stream-image", ActionState.SUCCESS),
        ("write-hostname", ActionState.SUCCESS),
        ("reboot", ActionState.SUCCESS),
    ]
    assert actions[0].attempt == 2
    # The reboot waited for the agent's word that its success was reported, then rebooted.
    reboot_log = list(actions[2].log_lines.order_by("seq").values_list("text", flat=True))
    assert "reboot: waiting until the agent has reported this action" in reboot_log, reboot_log
    assert f"reboot: action {actions[2].pk} attempt 1 reported" in reboot_log, reboot_log
    for action in actions:
        assert frames.received_lines_while_running(action), (action.name, frames.frames[-20:])

    # The machine is provisioned and will not netboot again: the second boot asked for its
    # script, was refused (PXE off; a DHCP export would not even name a boot file) and went
    # on to its disk.
    assert machine.state == MachineState.PROVISIONED
    assert machine.allow_pxe is False
    assert f"{INSTALLED_MARKER} booted from disk, hostname={HOSTNAME}" in console, context
    scripts = list(
        Event.objects.filter(machine=machine, verb="netboot.script_served").values_list(
            "changes__script", flat=True
        )
    )
    assert scripts == ["hook"], scripts
    assert re.search(r'GET /ipxe/[^"]+/auto\.ipxe" 404', pxe_server.output()), context

    # The disk, read on the host: the image's partition table and the written hostname.
    partitions = partition_table(disk)
    assert [(p["start"], p["type"]) for p in partitions] == [(2048, "83"), (34816, "6")]
    assert read_file_from_partition(disk, partitions[0], "/etc/hostname") == HOSTNAME.encode()
    assert "Mode:  0644" in stat_file_in_partition(disk, partitions[0], "/etc/hostname")

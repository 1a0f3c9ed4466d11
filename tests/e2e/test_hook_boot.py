"""The Hook Rackpilot ships, end to end as far as its agent: built from Debian packages and the
project's agent by build_hook_image's code, turned into a kernel and initramfs by a Rackpilot
build of the shipped recipe on a real Celery worker, PXE-booted by qemu (software emulation).
Its init loads the virtio drivers, takes a DHCP lease, starts dockerd and rackpilot-agent,
which exchanges the boot nonce and reports the machine's hardware."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from builds.hook.base_image import HookImages
from builds.hook.recipes import shipped_recipe_install
from builds.models import Build
from builds.services import lifecycle
from builds.states import BuildState
from inventory.models import Machine
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.e2e.guest import Guest
from tests.live_server import ARTIFACTS, AsgiLiveServer
from tests.netboot.conftest import make_machine, pending_workflow
from tests.netboot.qemu import GUEST_SOURCE_IP, QEMU, network_args

SYSTEM = Actor.system("e2e")
MAC = "52:54:00:e2:e0:42"
FINISHED = {BuildState.SUCCESS, BuildState.FAILED, BuildState.CANCELLED}
HOSTNAME = "hook-e2e-01"


def shipped_hook_build(images: HookImages, *, timeout: float = 300) -> Build:
    """A build of the shipped recipe, pointed at the test registry's images, queued as an
    operator queues one and run by the Celery worker."""
    recipe = shipped_recipe_install(
        arch="x86_64", actor=SYSTEM, kernel=images.kernel, base=images.base
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM, arch="x86_64")
    deadline = time.monotonic() + timeout
    while (build := Build.objects.get(pk=build.pk)).state not in FINISHED:
        assert time.monotonic() < deadline, f"build #{build.pk} still {build.state}: {build.error}"
        time.sleep(1)
    assert build.state == BuildState.SUCCESS, build.error
    return build


@pytest.mark.e2e
@pytest.mark.timeout(900)
@pytest.mark.django_db(transaction=True)
def test_the_shipped_hook_boots_and_its_agent_reports_the_machine(
    hook_images: HookImages,
    oci_registry: str,
    pxe_server: AsgiLiveServer,
    celery_worker: Path,
    tmp_path: Path,
    record_property: Callable[[str, object], None],
) -> None:
    build = shipped_hook_build(hook_images)
    assert build.is_default
    initramfs = build.artifacts.get(name="initramfs-x86_64")
    record_property("initramfs_bytes", initramfs.size)

    registry_port = oci_registry.rsplit(":", 1)[1]
    machine = make_machine(
        hostname=HOSTNAME,
        mac=MAC,
        ip=GUEST_SOURCE_IP,
        # The guest reaches the host's loopback registry as 10.0.2.2.
        kernel_params=f"insecure_registries=10.0.2.2:{registry_port}",
    )
    pending_workflow(machine)
    disk = tmp_path / "disk.img"
    subprocess.run(["truncate", "-s", "2G", str(disk)], check=True)

    guest = Guest(
        [QEMU, "-accel", "tcg", "-m", "3072", "-smp", "2", "-nographic", "-no-reboot",
         "-boot", "n", *network_args(port=pxe_server.port, mac=MAC),
         "-drive", f"file={disk},if=virtio,format=raw"],
        console_log=ARTIFACTS / "hook-e2e-console.log",
    )  # fmt: skip
    try:
        connected = guest.wait_for(
            "the agent's hello",
            lambda: Event.objects.filter(machine=machine, verb="agent.connected").exists(),
            timeout=480,
        )
    finally:
        guest.stop()
    record_property("qemu_start_to_agent_connected_seconds", round(connected, 1))
    context = f"console:\n{guest.console[-6000:]}\n\nserver:\n{pxe_server.output()[-4000:]}"

    console = guest.console
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
    # The agent's hardware report: the 2 GiB virtio disk and the boot NIC.
    disks = {disk["name"]: disk for disk in machine.hardware.get("disks", [])}
    assert disks.get("vda", {}).get("size_bytes") == 2 * 1024**3, (machine.hardware, context)
    assert MAC in {nic.get("mac") for nic in machine.hardware.get("nics", [])}, context

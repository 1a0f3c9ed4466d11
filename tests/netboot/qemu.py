"""Virtual machines that PXE-boot from a running Rackpilot: images, fixtures, qemu runner.

A kernel image and an init image are pushed to the local registry once per pytest worker;
each test has the real builder turn them into the default x86_64 build and serves it from
daphne. The init reads its token from /proc/cmdline, says hello to the agent API and powers
off, printing what the test asserts on the serial console. Needs qemu-system-x86, ipxe-qemu,
busybox-static, the Debian cloud kernel and docker-registry (the fixtures say which is missing).

The fixtures are made available to tests/netboot by tests/netboot/conftest.py, so that the
session-scoped image push is shared by every module of a worker.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from builds.builder.cache import BlobCache
from builds.builder.registry import Client
from builds.models import Build
from builds.services import lifecycle
from builds.services import recipes as recipe_services
from builds.tasks import run_build
from inventory.models import Machine
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.builds.images import (
    BUSYBOX,
    MODULES_ROOT,
    UDHCPC_SCRIPT,
    Layer,
    _config,
    kernel_layer,
    kernel_version,
    module_paths,
)
from tests.live_server import (
    ARTIFACTS,
    AsgiLiveServer,
    _register_reporting,
    _server_key,
    server_environment,
)
from tests.tools import require_tool

QEMU = "qemu-system-x86_64"
# The iPXE ROM qemu loads for virtio-net-pci; one file with the BIOS and the UEFI driver.
IPXE_ROM = Path("/usr/lib/ipxe/qemu/efi-virtio.rom")
HELLO = "RACKPILOT-PXE-HELLO"
FIRMWARE = "RACKPILOT-PXE-FIRMWARE"
CMDLINE = "RACKPILOT-PXE-CMDLINE"
HARDWARE = "RACKPILOT-PXE-HARDWARE"
APPLETS = ["sh", "mount", "insmod", "ip", "udhcpc", "poweroff", "echo", "cat", "wget", "sleep"]
SYSTEM = Actor.system("tests")
BOOT_VERBS = ("netboot.", "agent.")
EXPECTED_BOOT_EVENTS = [
    "netboot.script_served",
    "netboot.kernel_fetched",
    "netboot.initrd_fetched",
    "agent.connected",
]
# qemu's user network NATs every guest connection to the host's loopback, so the server sees
# 127.0.0.1 where a rack would show the machine's own address: artifact downloads are put on
# the timeline of the machine with this address.
GUEST_SOURCE_IP = "127.0.0.1"
# Console lines after which the guest can no longer say hello: stop at once rather than wait
# for the timeout (SeaBIOS retries for ever, OVMF falls through to its own PXE and a shell).
GIVE_UP = (
    "No bootable device",
    "Kernel panic",
    ">>Start PXE over IPv4",
    "EFI Internal Shell",
)


def pxe_init_script(version: str) -> str:
    loads = "\n".join(f"insmod /lib/modules/{version}/{m}" for m in module_paths(version))
    return f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
if [ -d /sys/firmware/efi ]; then echo "{FIRMWARE} efi"; else echo "{FIRMWARE} bios"; fi
{loads}
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 5 -s /etc/udhcpc.sh
ARGS=""
for word in $(cat /proc/cmdline); do
  case "$word" in
    rackpilot_url=*) URL="${{word#rackpilot_url=}}" ;;
    rackpilot_token=*) TOKEN="${{word#rackpilot_token=}}"; word="rackpilot_token=..." ;;
    worker_id=*) WORKER="${{word#worker_id=}}" ;;
  esac
  ARGS="$ARGS $word"
done
echo "{CMDLINE}$ARGS"
# What rackpilot-agent's hello reports, read the same way (a subset: memory, disks, NIC, DMI).
MEM_KB=0
while read key value unit; do [ "$key" = "MemTotal:" ] && MEM_KB=$value; done < /proc/meminfo
DISKS=""
for dev in /sys/block/*; do
  name=${{dev##*/}}
  case "$name" in loop*|ram*) continue ;; esac
  [ -e "$dev/size" ] || continue  # no disk at all: the glob stays unexpanded
  size=$(( $(cat "$dev/size") * 512 ))
  DISKS="$DISKS${{DISKS:+,}}"'{{"name":"'$name'","device":"/dev/'$name'","size_bytes":'$size'}}'
done
NIC='{{"name":"eth0","mac":"'$(cat /sys/class/net/eth0/address)'","physical":true}}'
DMI='{{"sys_vendor":"'$(cat /sys/class/dmi/id/sys_vendor)'"}}'
if [ -d /sys/firmware/efi ]; then KIND=uefi; else KIND=bios; fi
HARDWARE='{{"memory_bytes":'$((MEM_KB * 1024))',"disks":['$DISKS'],"nics":['$NIC'],'
HARDWARE="$HARDWARE"'"dmi":'$DMI',"firmware":"'$KIND'"}}'
echo "{HARDWARE} $HARDWARE"
ANSWER=$(wget -q -O- --header "Authorization: Bearer $TOKEN" \\
  --header 'Content-Type: application/json' \\
  --post-data '{{"worker_id":"'"$WORKER"'","hardware":'"$HARDWARE"'}}' "$URL/api/v1/agent/hello/")
echo "{HELLO} $ANSWER"
poweroff -f
"""


def pxe_init_layer(version: str) -> bytes:
    layer = Layer()
    for directory in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        layer.directory(directory)
    layer.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in APPLETS:
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file("init", pxe_init_script(version).encode(), mode=0o755)
    layer.file("etc/udhcpc.sh", UDHCPC_SCRIPT.encode(), mode=0o755)
    return layer.blob()


# --- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def pxe_images(oci_registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernel image and an init image that says hello to Rackpilot, pushed once a worker."""
    require_tool(shutil.which(QEMU) is not None, f"{QEMU} (Debian package qemu-system-x86)")
    require_tool(IPXE_ROM.exists(), f"{IPXE_ROM} (Debian package ipxe-qemu)")
    require_tool(BUSYBOX.exists(), f"{BUSYBOX} (Debian package busybox-static)")
    require_tool(
        MODULES_ROOT.exists() and any("cloud" in p.name for p in MODULES_ROOT.iterdir()),
        "the cloud kernel (Debian package linux-image-cloud-amd64)",
    )
    scratch = tmp_path_factory.mktemp("pxe-push")
    client = Client(cache=BlobCache(scratch), insecure_registries=[oci_registry])
    version = kernel_version()
    base = f"{oci_registry}/rackpilot-pxe-{uuid.uuid4().hex[:12]}"
    client.push_image(f"{base}/kernel:v1", [kernel_layer(version)], _config())
    client.push_image(
        f"{base}/init:v1", [pxe_init_layer(version)], _config(Cmd=["/init"], Env=["PATH=/bin"])
    )
    return {"registry": oci_registry, "kernel": f"{base}/kernel:v1", "init": f"{base}/init:v1"}


@pytest.fixture
def artifacts_dir(settings: Any, tmp_path: Path) -> Path:
    settings.BUILD_ARTIFACTS_DIR = tmp_path / "artifacts"
    settings.BUILD_CACHE_DIR = tmp_path / "cache"
    return Path(settings.BUILD_ARTIFACTS_DIR)


@pytest.fixture
def default_hook_build(
    pxe_images: dict[str, str],
    artifacts_dir: Path,
    settings: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> Build:
    """The real builder's kernel and initramfs, recorded as the default x86_64 build.

    Built per test: the build row lives in the test's database, which is emptied after it.
    """
    settings.BUILD_INSECURE_REGISTRIES = [pxe_images["registry"]]
    # No broker here: the build runs below through the task function itself.
    monkeypatch.setattr(lifecycle, "enqueue_build", lambda build_id, task_id: None)
    config = f"""kernel:
  image: {pxe_images["kernel"]}
  cmdline: "console=ttyS0"
init:
  - {pxe_images["init"]}
"""
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="pxe-hook", config=config, arches=["x86_64"]
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM, arch="x86_64")
    assert run_build.run(build.pk) == "success"
    build = Build.objects.get(pk=build.pk)
    assert build.is_default, build.state
    return build


@pytest.fixture
def pxe_server(
    request: pytest.FixtureRequest, transactional_db: None, artifacts_dir: Path
) -> Iterator[AsgiLiveServer]:
    """daphne as ``asgi_live_server`` starts it, with a public URL the guest can reach."""
    _register_reporting(request.config)
    env = server_environment()
    server = AsgiLiveServer(env)
    env.update(
        {
            "RACKPILOT_PUBLIC_URL": f"http://10.0.2.2:{server.port}",
            "ALLOWED_HOSTS": "127.0.0.1,localhost,10.0.2.2",
            "BUILD_ARTIFACTS_DIR": str(artifacts_dir),
            "NETBOOT_RETRIES": "2",
            "NETBOOT_RETRY_DELAY_SECONDS": "1",
            # qemu's user-mode network NATs the guest: the server sees it ask from loopback
            # (GUEST_SOURCE_IP), unknown guests included.
            "NETBOOT_DISCOVERY_SUBNETS": "127.0.0.1/32",
        }
    )
    request.node.stash[_server_key] = server
    failed_before = request.session.testsfailed
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if request.session.testsfailed > failed_before:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
            (ARTIFACTS / f"asgi-server-{name}.log").write_text(server.output())
        server.close()


# --- running a guest ---------------------------------------------------------------------------


def bootfile_url(port: int, mac: str) -> str:
    """What qemu's DHCP server hands the ROM: our script URL, as a DHCP export would."""
    return f"http://10.0.2.2:{port}/ipxe/{mac}/auto.ipxe"


def network_args(*, port: int, mac: str) -> list[str]:
    return [
        "-netdev", f"user,id=n0,bootfile={bootfile_url(port, mac)}",
        # bootindex: OVMF tries the NIC first (SeaBIOS ignores it when booting with -boot n).
        "-device", f"virtio-net-pci,netdev=n0,mac={mac},bootindex=1",
    ]  # fmt: skip


@dataclass
class QemuRun:
    console: str
    seconds: float  # from start to exit
    # When each watched console line first appeared, in seconds since start.
    seen: dict[str, float] = field(default_factory=dict)


def run_qemu(
    command: list[str], *, timeout: float, watch: Iterable[str] = (), cwd: Path | None = None
) -> QemuRun:
    """Run a guest to power-off; fail with its serial console if it hangs or gives up.

    /dev/kvm exists on these hosts but guests hang under it: callers pass ``-accel tcg``.
    """
    watched = list(watch)
    seen: dict[str, float] = {}
    buffer = bytearray()
    start = time.monotonic()
    process = subprocess.Popen(
        command,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        cwd=cwd,
    )
    assert process.stdout is not None
    os.set_blocking(process.stdout.fileno(), False)

    def drain() -> str:
        while True:
            try:
                chunk = os.read(process.stdout.fileno(), 65536)  # type: ignore[union-attr]
            except BlockingIOError:
                break
            if not chunk:
                break
            buffer.extend(chunk)
        text = buffer.decode(errors="replace")
        now = time.monotonic() - start
        for marker in watched:
            if marker not in seen and marker in text:
                seen[marker] = now
        return text

    try:
        while True:
            finished = process.poll() is not None
            console = drain()
            if finished:
                break
            elapsed = time.monotonic() - start
            gave_up = next((m for m in GIVE_UP if m in console), None)
            if gave_up is not None:
                pytest.fail(
                    f"the guest cannot boot any more ({gave_up!r} after {elapsed:.0f} s); "
                    f"console:\n{console}"
                )
            if elapsed > timeout:
                pytest.fail(f"qemu did not power off within {timeout:.0f} s; console:\n{console}")
            time.sleep(0.2)
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=30)
        process.stdout.close()
    return QemuRun(console=console, seconds=time.monotonic() - start, seen=seen)


def console_value(console: str, marker: str) -> str | None:
    """The rest of the last console line that starts with ``marker``."""
    lines = [line for line in console.splitlines() if line.startswith(marker)]
    return lines[-1][len(marker) :].strip() if lines else None


def assert_said_hello(
    *, machine: Machine, run: QemuRun, server: AsgiLiveServer, hostname: str, mac: str
) -> str:
    """The guest's hello was answered for this machine and the boot is on its timeline.

    Returns the failure context (console and server output) for further assertions.
    """
    context = f"console:\n{run.console}\n\nserver output:\n{server.output()}"
    hello = console_value(run.console, HELLO)
    assert hello, context
    assert f'"machine":"{hostname}"' in hello.replace(" ", ""), context
    assert f'"worker_id":"{mac}"' in hello.replace(" ", ""), context
    # The script's boot nonce bought a session: the one token the agent works with from here.
    assert '"token":"rpa_' in hello.replace(" ", ""), context

    machine = Machine.objects.get(pk=machine.pk)
    events = Event.objects.filter(machine=machine).order_by("timestamp", "pk")
    verbs = [v for v in events.values_list("verb", flat=True) if v.startswith(BOOT_VERBS)]
    assert verbs == EXPECTED_BOOT_EVENTS, context
    assert machine.last_seen is not None, context
    return context

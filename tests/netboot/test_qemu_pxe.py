"""A virtual machine PXE-boots from a running Rackpilot and its init calls back.

qemu's own iPXE ROM asks the server for the machine's script, fetches the kernel and the
initramfs of the default x86_64 build (made by the real builder from images pushed to a local
registry), and the booted init reads its token from /proc/cmdline and says hello to the agent
API. Needs qemu-system-x86, busybox-static, the Debian cloud kernel and docker-registry.
"""

from __future__ import annotations

import shutil
import subprocess
import uuid
from collections.abc import Iterator
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
from tests.netboot.conftest import make_machine
from tests.tools import require_tool

QEMU = "qemu-system-x86_64"
MAC = "52:54:00:12:34:56"
GUEST_SOURCE_IP = "127.0.0.1"
HOSTNAME = "pxe-qemu-01"
MARKER = "RACKPILOT-PXE-HELLO"
QEMU_TIMEOUT = 120
APPLETS = ["sh", "mount", "insmod", "ip", "udhcpc", "poweroff", "echo", "cat", "wget", "sleep"]
SYSTEM = Actor.system("tests")
BOOT_VERBS = ("netboot.", "agent.")


def pxe_init_script(version: str) -> str:
    loads = "\n".join(f"insmod /lib/modules/{version}/{m}" for m in module_paths(version))
    return f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
{loads}
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 5 -s /etc/udhcpc.sh
for word in $(cat /proc/cmdline); do
  case "$word" in
    rackpilot_url=*) URL="${{word#rackpilot_url=}}" ;;
    rackpilot_token=*) TOKEN="${{word#rackpilot_token=}}" ;;
    worker_id=*) WORKER="${{word#worker_id=}}" ;;
  esac
done
ANSWER=$(wget -q -O- --header "Authorization: Bearer $TOKEN" \\
  --header 'Content-Type: application/json' \\
  --post-data '{{"worker_id":"'"$WORKER"'"}}' "$URL/api/v1/agent/hello/")
echo "{MARKER} $ANSWER"
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


@pytest.fixture(scope="module")
def pxe_images(oci_registry: str, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """A kernel image and an init image that says hello to Rackpilot, pushed once."""
    require_tool(shutil.which(QEMU) is not None, f"{QEMU} (Debian package qemu-system-x86)")
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
    """The real builder's kernel and initramfs, recorded as the default x86_64 build."""
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
            (ARTIFACTS / "asgi-server-test_qemu_pxe.log").write_text(server.output())
        server.close()


def boot(port: int) -> str:
    bootfile = f"http://10.0.2.2:{port}/ipxe/{MAC}/auto.ipxe"
    # /dev/kvm exists here but guests hang under it: software emulation only.
    command = [
        QEMU, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot", "-boot", "n",
        "-netdev", f"user,id=n0,bootfile={bootfile}",
        "-device", f"virtio-net-pci,netdev=n0,mac={MAC}",
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command,
            capture_output=True,
            timeout=QEMU_TIMEOUT,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired as exc:
        console = (exc.stdout or b"").decode(errors="replace")
        pytest.fail(f"qemu did not power off within {QEMU_TIMEOUT} s; console:\n{console}")
    return completed.stdout.decode(errors="replace")


@pytest.mark.e2e
@pytest.mark.timeout(280)
@pytest.mark.django_db(transaction=True)
def test_qemu_pxe_boots_the_default_build_and_says_hello(
    default_hook_build: Build, pxe_server: AsgiLiveServer
) -> None:
    # Kernel and initrd downloads are put on the timeline of the machine whose address asked.
    # qemu's user network NATs every guest connection to the host's loopback, so the server
    # sees 127.0.0.1 where a rack would show the machine's own 10.0.2.15.
    machine = make_machine(hostname=HOSTNAME, mac=MAC, ip=GUEST_SOURCE_IP)
    assert machine.last_seen is None

    console = boot(pxe_server.port)

    def context() -> str:
        return f"console:\n{console}\n\nserver output:\n{pxe_server.output()}"

    hello = [line for line in console.splitlines() if line.startswith(MARKER)]
    assert hello, context()
    assert f'"machine":"{HOSTNAME}"' in hello[-1].replace(" ", ""), context()
    assert f'"worker_id":"{MAC}"' in hello[-1].replace(" ", ""), context()

    machine = Machine.objects.get(pk=machine.pk)
    events = Event.objects.filter(machine=machine).order_by("timestamp", "pk")
    verbs = [v for v in events.values_list("verb", flat=True) if v.startswith(BOOT_VERBS)]
    assert verbs == [
        "netboot.script_served",
        "netboot.kernel_fetched",
        "netboot.initrd_fetched",
        "agent.connected",
    ], context()
    assert machine.last_seen is not None, context()

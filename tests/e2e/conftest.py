"""Fixtures of the end-to-end tests: the Rackpilot Hook built by the shipped command, and the
netboot server of tests/netboot (daphne with a public URL a qemu guest reaches)."""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from builds.hook.base_image import HookImages, build_hook_images
from builds.services import lifecycle
from builds.tasks import run_build
from rackpilot.core.queues import all_queues
from tests.browser.conftest import chromium, page  # noqa: F401 - fixtures used here
from tests.live_server import ARTIFACTS, server_environment
from tests.netboot.qemu import IPXE_ROM, QEMU, artifacts_dir, pxe_server  # noqa: F401
from tests.tools import require_tool, stop_process

# Playwright's sync API keeps an asyncio loop running in the test's thread; the ORM calls of the
# scenario test around it are deliberate (see tests/browser/conftest.py).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

# debootstrap's root filesystem is kept here between runs (and between CI runs on one machine):
# the first build downloads Debian's packages, later ones only pack and push.
HOOK_CACHE = Path(
    os.environ.get("RACKPILOT_HOOK_CACHE", str(Path.home() / ".cache" / "rackpilot" / "hook-image"))
)


@pytest.fixture(scope="session")
def hook_images(oci_registry: str) -> HookImages:
    """The Rackpilot Hook's kernel and base images, made by build_hook_image's code and pushed
    to the test registry once per worker."""
    require_tool(
        shutil.which("debootstrap") is not None, "debootstrap (Debian package debootstrap)"
    )
    require_tool(shutil.which(QEMU) is not None, f"{QEMU} (Debian package qemu-system-x86)")
    require_tool(IPXE_ROM.exists(), f"{IPXE_ROM} (Debian package ipxe-qemu)")
    return build_hook_images(
        registry=oci_registry,
        arch="x86_64",
        cache_dir=HOOK_CACHE,
        insecure=True,
        repository=f"rackpilot-e2e-{uuid.uuid4().hex[:8]}",
        log=lambda line: None,
    )


@dataclass
class CeleryProcesses:
    queue: str
    worker_log: Path
    beat_log: Path


@pytest.fixture
def celery_queue(monkeypatch: pytest.MonkeyPatch) -> str:
    """This test's own Celery queue: the worker, beat and the ASGI server started after this
    fixture send and take tasks there (CELERY_TASK_DEFAULT_QUEUE), never from another run's."""
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    monkeypatch.setenv("CELERY_TASK_DEFAULT_QUEUE", queue)
    return queue


@pytest.fixture
def celery_processes(
    transactional_db: None,
    celery_queue: str,
    artifacts_dir: Path,  # noqa: F811 - the fixture of tests/netboot/qemu.py
    oci_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[CeleryProcesses]:
    """A real Celery worker and beat, as processes of their own on the test database, talking
    through the broker (Redis) as in production. Builds queued by this test process go to the
    worker's queue too."""
    env = server_environment()
    env.update(
        {
            "BUILD_ARTIFACTS_DIR": str(artifacts_dir),
            "BUILD_CACHE_DIR": str(tmp_path / "build-cache"),
            "BUILD_INSECURE_REGISTRIES": oci_registry,
        }
    )
    processes = CeleryProcesses(
        celery_queue, tmp_path / "celery-worker.log", tmp_path / "celery-beat.log"
    )
    with processes.worker_log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "rackpilot", "worker",
             "-Q", ",".join(all_queues(default_queue=celery_queue)),
             "--concurrency", "1", "--without-gossip", "--without-mingle", "-l", "info"],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip
    with processes.beat_log.open("wb") as output:
        beat = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "rackpilot", "beat", "-l", "info",
             "--schedule", str(tmp_path / "celerybeat-schedule")],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def enqueue_build(build_id: int, task_id: str) -> None:
        run_build.apply_async(args=[build_id], task_id=task_id, queue=celery_queue)

    # The test process read its settings before the queue was chosen.
    monkeypatch.setattr(lifecycle, "enqueue_build", enqueue_build)
    try:
        yield processes
    finally:
        stop_process(beat, grace=30)
        stop_process(worker, grace=30)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        for log in (processes.worker_log, processes.beat_log):
            (ARTIFACTS / f"e2e-{log.name}").write_bytes(log.read_bytes())


@dataclass
class FileServer:
    directory: Path
    port: int

    def url_from_guest(self, name: str) -> str:
        return f"http://10.0.2.2:{self.port}/{name}"


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[FileServer]:
    """A plain HTTP server on loopback for what the actions download (the guest reaches it
    as 10.0.2.2); a missing file is a 404."""
    directory = tmp_path / "served"
    directory.mkdir()
    handler = functools.partial(QuietHandler, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, name="file-server", daemon=True)
    thread.start()
    try:
        yield FileServer(directory, server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


class QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass

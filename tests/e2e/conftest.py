"""Fixtures of the end-to-end tests: the Rackpilot Hook built by the shipped command, and the
netboot server of tests/netboot (daphne with a public URL a qemu guest reaches)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from builds.hook.base_image import HookImages, build_hook_images
from builds.services import lifecycle
from builds.tasks import run_build
from tests.live_server import ARTIFACTS, server_environment
from tests.netboot.qemu import IPXE_ROM, QEMU, artifacts_dir, pxe_server  # noqa: F401
from tests.tools import require_tool

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


@pytest.fixture
def celery_worker(
    transactional_db: None,
    artifacts_dir: Path,  # noqa: F811 - the fixture of tests/netboot/qemu.py
    oci_registry: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> Iterator[Path]:
    """A real Celery worker process on the test database, consuming a queue of this test's
    own: builds are handed to it through the broker (Redis), as in production. Yields the
    worker's log file."""
    queue = f"e2e-{uuid.uuid4().hex[:8]}"
    env = server_environment()
    env.update(
        {
            "BUILD_ARTIFACTS_DIR": str(artifacts_dir),
            "BUILD_CACHE_DIR": str(tmp_path / "build-cache"),
            "BUILD_INSECURE_REGISTRIES": oci_registry,
        }
    )
    log = tmp_path / "celery-worker.log"
    with log.open("wb") as output:
        worker = subprocess.Popen(
            [sys.executable, "-m", "celery", "-A", "rackpilot", "worker", "-Q", queue,
             "--concurrency", "1", "--without-gossip", "--without-mingle", "-l", "info"],
            env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def enqueue_build(build_id: int, task_id: str) -> None:
        run_build.apply_async(args=[build_id], task_id=task_id, queue=queue)

    monkeypatch.setattr(lifecycle, "enqueue_build", enqueue_build)
    try:
        yield log
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=30)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait(timeout=10)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        (ARTIFACTS / "hook-e2e-celery-worker.log").write_bytes(log.read_bytes())

"""Fixtures for tests that run real action containers: a registry, podman, test images.

One set per pytest-xdist worker, started at the first test that asks and stopped at the end of
the session (tests/containers.py has the machinery):
- `oci_registry` → "127.0.0.1:<port>", a local registry serving /v2/;
- `podman_engine` → PodmanEngine (`.base_url`, `.env`, `.client()`, `.podman(...)`);
- `action_images` → {"lines": "127.0.0.1:<port>/rackpilot-test/lines:v1", ...};
- `docker_client` → a DockerClient on that engine; the test's containers are removed after it.
"""

from __future__ import annotations

import importlib.util
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests import containers
from tests.containers import PodmanEngine
from tests.tools import require_tool

if TYPE_CHECKING:
    import docker


@pytest.fixture(scope="session")
def container_work_directory() -> Iterator[Path]:
    """This worker's folder under /tmp, locked for the session; it holds the caches."""
    with containers.claim_work_directory(containers.xdist_worker()) as directory:
        yield directory


@pytest.fixture(scope="session")
def oci_registry(container_work_directory: Path) -> Iterator[str]:
    require_tool(
        shutil.which(containers.REGISTRY) is not None,
        "docker-registry (Debian package docker-registry)",
    )
    with containers.run_oci_registry(container_work_directory / "registry") as registry:
        yield registry.address


@pytest.fixture(scope="session")
def podman_engine(container_work_directory: Path, oci_registry: str) -> Iterator[PodmanEngine]:
    require_tool(shutil.which(containers.PODMAN) is not None, "podman (Debian package podman)")
    require_tool(shutil.which(containers.RUNC) is not None, "runc (Debian package runc)")
    require_tool(
        importlib.util.find_spec("docker") is not None,
        "the docker Python package (pip install 'docker>=7.1,<8')",
    )
    with containers.run_podman_engine(container_work_directory / "podman", oci_registry) as engine:
        yield engine


@pytest.fixture(scope="session")
def action_images(
    container_work_directory: Path, podman_engine: PodmanEngine, oci_registry: str
) -> dict[str, str]:
    busybox = containers.BUSYBOX
    require_tool(busybox.exists(), f"{busybox} (Debian package busybox-static)")
    return containers.ensure_action_images(
        podman_engine, oci_registry, container_work_directory / "images"
    )


@pytest.fixture
def docker_client(podman_engine: PodmanEngine) -> Iterator[docker.DockerClient]:
    client = podman_engine.client()
    try:
        yield client
    finally:
        client.close()
        # The worker runs one test at a time, so every container on its engine is this test's.
        podman_engine.remove_all_containers()

from __future__ import annotations

import uuid
from pathlib import Path

import pytest

from tests.builds.images import BUSYBOX, MODULES_ROOT, PushedImages, push_test_images
from tests.tools import require_tool


@pytest.fixture(scope="session")
def test_images(oci_registry: str, tmp_path_factory: pytest.TempPathFactory) -> PushedImages:
    """Kernel, init and layered images pushed once per worker, in a repository of its own."""
    require_tool(BUSYBOX.exists(), f"{BUSYBOX} (Debian package busybox-static)")
    require_tool(
        any("cloud" in p.name for p in MODULES_ROOT.iterdir()),
        "the cloud kernel (Debian package linux-image-cloud-amd64)",
    )
    repository = f"rackpilot-builds-{uuid.uuid4().hex[:12]}"
    return push_test_images(oci_registry, repository, tmp_path_factory.mktemp("push"))


@pytest.fixture
def build_dirs(tmp_path: Path) -> tuple[Path, Path]:
    return tmp_path / "out", tmp_path / "cache"

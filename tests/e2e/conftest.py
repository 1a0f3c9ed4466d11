"""Fixtures of the end-to-end tests: the Rackpilot Hook built by the shipped command, and the
netboot server of tests/netboot (daphne with a public URL a qemu guest reaches)."""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path

import pytest

from builds.hook.base_image import HookImages, build_hook_images
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

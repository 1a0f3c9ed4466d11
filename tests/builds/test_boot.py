from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from builds.builder import build
from tests.builds.images import MARKER, UCODE_NAME, PushedImages, ucode_cpio
from tests.tools import require_tool

QEMU = "qemu-system-x86_64"


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_built_image_boots_in_qemu(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    require_tool(shutil.which(QEMU) is not None, f"{QEMU} (Debian package qemu-system-x86)")
    out, cache = build_dirs
    # With early microcode in front: the kernel must still find the compressed archive after it.
    recipe = test_images.recipe().replace(
        'cmdline: "console=ttyS0"', f'cmdline: "console=ttyS0"\n  ucode: {UCODE_NAME}'
    )
    result = build(
        recipe,
        arch="x86_64",
        out_dir=out,
        cache_dir=cache,
        insecure_registries=[test_images.registry],
    )
    kernel, initramfs = (artifact.path for artifact in result.artifacts)
    microcode = ucode_cpio()
    assert initramfs.read_bytes()[: len(microcode)] == microcode

    # /dev/kvm exists here but guests hang under it: software emulation only.
    command = [
        QEMU, "-accel", "tcg", "-m", "512", "-nographic", "-no-reboot",
        "-kernel", str(kernel), "-initrd", str(initramfs),
        "-append", "console=ttyS0 panic=-1",
        "-netdev", "user,id=n0", "-device", "virtio-net-pci,netdev=n0",
    ]  # fmt: skip
    try:
        completed = subprocess.run(
            command, capture_output=True, timeout=120, check=False, stdin=subprocess.DEVNULL
        )
        console = completed.stdout.decode(errors="replace")
    except subprocess.TimeoutExpired as exc:
        console = (exc.stdout or b"").decode(errors="replace")
        pytest.fail(f"qemu did not power off within 120 s; console:\n{console}")

    assert f"{MARKER} from-files-section" in console, console
    assert "lease 10.0.2.15 on eth0" in console, console

"""A stand-in for a HookOS release: ``hook_x86_64.tar.gz`` packed as HookOS releases are
(``vmlinuz-x86_64`` and ``initramfs-x86_64`` at the top), holding Debian's cloud kernel and a
busybox initramfs that prints its command line and powers off; and a loopback HTTP server
that serves such files."""

from __future__ import annotations

import hashlib
import http.server
import shutil
import tarfile
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import partial
from pathlib import Path

import libarchive

from tests.builds.images import BUSYBOX, kernel_version
from tests.tools import require_tool

MARKER = "RACKPILOT-HOOKOS-CMDLINE"
INIT = f"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
echo "{MARKER} $(cat /proc/cmdline)"
poweroff -f
"""


@dataclass(frozen=True)
class Release:
    archive: Path
    sha256: str
    kernel: Path
    initramfs: Path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def make_release(
    directory: Path, *, members: tuple[str, ...] = ("vmlinuz", "initramfs")
) -> Release:
    require_tool(BUSYBOX.exists(), f"{BUSYBOX} (Debian package busybox-static)")
    kernel = Path(f"/boot/vmlinuz-{kernel_version()}")
    require_tool(kernel.exists(), f"{kernel} (Debian package linux-image-cloud-amd64)")
    root = directory / "initramfs-root"
    (root / "bin").mkdir(parents=True, exist_ok=True)
    (root / "proc").mkdir(exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in ("sh", "mount", "echo", "cat", "poweroff"):
        (root / "bin" / applet).symlink_to("busybox")
    (root / "init").write_text(INIT)
    (root / "init").chmod(0o755)
    initramfs = directory / "initramfs-x86_64"
    with libarchive.file_writer(str(initramfs), "cpio_newc", "gzip") as archive:
        for entry in sorted(p.relative_to(root) for p in root.rglob("*")):
            archive.add_files(str(root / entry), recursive=False, pathname=str(entry))
    kernel_copy = directory / "vmlinuz-x86_64"
    shutil.copy(kernel, kernel_copy)
    archive_path = directory / "hook_x86_64.tar.gz"
    with tarfile.open(archive_path, "w:gz") as tar:
        for path in (kernel_copy, initramfs):
            if path.name.split("-")[0] in members:
                tar.add(path, arcname=path.name)
    return Release(archive_path, _sha256(archive_path), kernel_copy, initramfs)


@contextmanager
def file_server(directory: Path) -> Iterator[str]:
    """``http://127.0.0.1:<port>`` serving ``directory`` until the block ends."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()

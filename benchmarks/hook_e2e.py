"""The Rackpilot Hook end to end: provisioning times in a VM, next to a bare boot of the same VM.

    .venv/bin/python benchmarks/hook_e2e.py [--cold]

Runs tests/e2e/test_provisioning.py once (the shipped Hook built by build_hook_image's code and
a Celery build, a qemu guest PXE-booting it, the workflow run from the dashboard, the reboot
into the installed system) and prints what it measured: initramfs size, seconds from qemu's
start to the agent's hello, to the workflow's success and to the installed system's marker.

Reference, same run and same qemu settings (-accel tcg, 3 GiB, 2 vCPUs): the installed system's
disk booted alone (BIOS, syslinux, Debian's cloud kernel, a busybox init) — what software
emulation costs any boot on this machine. Sizes are set against HookOS (about 180 MB, x86_64)
and CaptainOS (about 88 MB), as their projects publish them.

``--cold`` first empties the Hook's debootstrap cache (a full download from the Debian mirror).
Uses PostgreSQL and Redis as the test suite does (DATABASE_URL/REDIS_URL, defaults as in the
Makefile).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.e2e.installed_system import INSTALLED_MARKER, build_disk_image  # noqa: E402

FIGURES = ROOT / "test-artifacts" / "e2e-provisioning-figures.json"
HOOK_CACHE = Path(
    os.environ.get("RACKPILOT_HOOK_CACHE", str(Path.home() / ".cache" / "rackpilot" / "hook-image"))
)
PUBLISHED_INITRAMFS_MB = {"HookOS (x86_64)": 180, "CaptainOS": 88}
QEMU = ["qemu-system-x86_64", "-accel", "tcg", "-m", "3072", "-smp", "2", "-nographic"]


def run_the_test() -> tuple[float, dict[str, float]]:
    env = dict(os.environ)
    env.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot")
    env.setdefault("REDIS_URL", "redis://127.0.0.1:6379/0")
    env.update({"CI": "true", "DB_CONN_MAX_AGE": "0"})
    FIGURES.unlink(missing_ok=True)
    started = time.monotonic()
    subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:xdist",
         "tests/e2e/test_provisioning.py"],
        cwd=ROOT, env=env, check=True,
    )  # fmt: skip
    return time.monotonic() - started, json.loads(FIGURES.read_text())


def bare_boot_seconds(scratch: Path) -> float:
    """qemu start → the installed system's marker, booting its disk image directly."""
    image = build_disk_image(scratch)
    started = time.monotonic()
    booted = subprocess.run(
        [*QEMU, "-no-reboot", "-net", "none", "-drive", f"file={image.raw},if=virtio,format=raw"],
        capture_output=True,
        timeout=300,
        check=True,
    )
    seconds = time.monotonic() - started
    if INSTALLED_MARKER.encode() not in booted.stdout:
        raise SystemExit(f"the bare boot printed no marker:\n{booted.stdout.decode()[-3000:]}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", action="store_true", help="empty the debootstrap cache first")
    args = parser.parse_args()
    if args.cold:
        shutil.rmtree(HOOK_CACHE, ignore_errors=True)

    wall, figures = run_the_test()
    with tempfile.TemporaryDirectory(prefix="rackpilot-bench-") as scratch:
        bare = bare_boot_seconds(Path(scratch))

    megabytes = figures["initramfs_bytes"] / 1e6
    print()
    print(f"initramfs-x86_64 (zstd): {megabytes:.0f} MB")
    for name, published in PUBLISHED_INITRAMFS_MB.items():
        print(f"  vs {name} ≈ {published} MB: ratio {megabytes / published:.2f}")
    print(f"reference, same run: bare boot of the installed disk: {bare:.1f} s")
    for key, label in (
        ("qemu_start_to_agent_connected_seconds", "qemu start → agent connected"),
        ("qemu_start_to_workflow_success_seconds", "qemu start → workflow success"),
        ("qemu_start_to_booted_from_disk_seconds", "qemu start → booted from disk"),
    ):
        print(f"{label}: {figures[key]:.1f} s (ratio {figures[key] / bare:.1f} to the bare boot)")
    print(f"test body (Celery build, workflow, reboot): {figures['test_seconds']:.0f} s")
    print(f"whole pytest run{' (cold cache)' if args.cold else ''}: {wall:.0f} s")


if __name__ == "__main__":
    main()

"""Hook builder: cold and warm build time, and initramfs size next to `tar | zstd -T0`.

    .venv/bin/python benchmarks/hook_build.py [--payload /usr/lib/python3.11] [--compression zstd]

It starts a loopback `docker-registry`, pushes the test images (cloud kernel + virtio modules,
busybox init, the two-layer image) plus a payload image made from a directory on this machine
(so the rootfs has some bulk), then builds twice: cold (empty cache) and warm (same cache).
Reference, same run: the merged rootfs read back from the initramfs, written as one tar and
compressed with `zstd -T0` (level 3, the level libarchive's zstd filter uses) — the
compression a one-shot tool reaches on the same bytes.
"""

from __future__ import annotations

import argparse
import io
import resource
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import libarchive  # noqa: E402

from builds.builder import build  # noqa: E402
from builds.builder.cache import BlobCache  # noqa: E402
from builds.builder.registry import Client  # noqa: E402
from tests import containers  # noqa: E402
from tests.builds.images import push_test_images  # noqa: E402


def payload_layer(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=6) as tar:
        tar.add(directory, arcname=f"payload/{directory.name}")
    return buffer.getvalue()


def rootfs_tar(initramfs: Path, destination: Path) -> int:
    """Copy every entry of the initramfs into a plain tar: the merged rootfs, byte for byte."""
    with (
        libarchive.file_reader(str(initramfs)) as source,
        libarchive.file_writer(str(destination), "pax_restricted") as target,
    ):
        target.add_entries(source)
    return destination.stat().st_size


def zstd_reference(tar_path: Path, out: Path) -> tuple[float, int, str]:
    started = time.monotonic()
    if shutil.which("zstd"):
        subprocess.run(["zstd", "-q", "-f", "-T0", "-3", str(tar_path), "-o", str(out)], check=True)
        how = "zstd -T0 -3 (CLI)"
    else:
        import zstandard

        compressor = zstandard.ZstdCompressor(level=3, threads=-1)
        with tar_path.open("rb") as source, out.open("wb") as target:
            compressor.copy_stream(source, target)
        how = "zstandard module, level 3, threads=-1 (no zstd CLI here)"
    return time.monotonic() - started, out.stat().st_size, how


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--payload", type=Path, default=Path("/usr/lib/python3.11"))
    parser.add_argument("--compression", default="zstd", choices=["zstd", "gzip"])
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="hook-bench-") as work_name:
        work = Path(work_name)
        with containers.run_oci_registry(work / "registry") as registry:
            address = registry.address
            images = push_test_images(address, f"bench-{uuid.uuid4().hex[:8]}", work / "push")
            recipe = images.recipe()
            if args.payload.is_dir():
                payload = f"{address}/bench-payload/{args.payload.name.replace('.', '-')}:v1"
                Client(cache=BlobCache(work / "push"), insecure_registries=[address]).push_image(
                    payload, [payload_layer(args.payload)], {"architecture": "amd64", "os": "linux"}
                )
                recipe = recipe.replace("init:\n", f"init:\n  - {payload}\n", 1)

            timings = {}
            results = {}
            for run in ("cold", "warm"):
                started = time.monotonic()
                results[run] = build(
                    recipe,
                    arch="x86_64",
                    out_dir=work / f"out-{run}",
                    cache_dir=work / "cache",
                    insecure_registries=[address],
                    compression=args.compression,
                )
                timings[run] = time.monotonic() - started
            # Peak memory of a warm build on its own (this process holds the pushed payload).
            recipe_file = work / "recipe.yaml"
            recipe_file.write_text(recipe)
            subprocess.run(
                [
                    *(sys.executable, "-m", "builds.builder", str(recipe_file)),
                    *("--out", str(work / "out-cli"), "--cache", str(work / "cache")),
                    *("--insecure-registry", address, "--compression", args.compression),
                ],
                check=True,
                cwd=ROOT,
                capture_output=True,
            )
            peak_rss_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024

        initramfs = results["warm"].artifacts[1]
        tar_size = rootfs_tar(initramfs.path, work / "rootfs.tar")
        ref_seconds, ref_size, how = zstd_reference(work / "rootfs.tar", work / "rootfs.tar.zst")

    print(f"command: {' '.join(sys.argv)}")
    print(f"payload: {args.payload} ({'included' if args.payload.is_dir() else 'missing'})")
    for run in ("cold", "warm"):
        result = results[run]
        steps = ", ".join(f"{s.name} {s.seconds:.2f}s" for s in result.steps)
        print(
            f"{run} build: {timings[run]:.2f} s  downloaded {result.downloaded_bytes / 1e6:.1f} MB"
            f"  cache hits {result.cache_hits}  ({steps})"
        )
    print(f"peak RSS of a warm CLI build: {peak_rss_mb:.0f} MB")
    print(f"merged rootfs (uncompressed tar): {tar_size / 1e6:.1f} MB")
    print(f"initramfs ({args.compression}, streamed): {initramfs.size / 1e6:.2f} MB")
    print(f"reference {how}: {ref_size / 1e6:.2f} MB in {ref_seconds:.2f} s")
    print(f"size ratio initramfs / reference: {initramfs.size / ref_size:.3f}")


if __name__ == "__main__":
    main()

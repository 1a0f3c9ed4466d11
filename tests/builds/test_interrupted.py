from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from builds.builder import build
from tests.builds.images import PushedImages


def test_build_killed_midway_leaves_nothing_half_written(
    test_images: PushedImages, build_dirs: tuple[Path, Path], tmp_path: Path
) -> None:
    out, cache = build_dirs
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(test_images.recipe())
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "builds.builder",
            str(recipe),
            "--out",
            str(out),
            "--cache",
            str(cache),
            "--insecure-registry",
            test_images.registry,
        ],
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if line.startswith("==> write initramfs"):
            process.send_signal(signal.SIGKILL)
            break
    process.wait(timeout=30)

    result = build(
        test_images.recipe(),
        arch="x86_64",
        out_dir=out,
        cache_dir=cache,
        insecure_registries=[test_images.registry],
    )

    assert process.returncode == -signal.SIGKILL
    assert result.downloaded_bytes == 0  # everything the killed build fetched was kept
    assert sorted(p.name for p in out.iterdir()) == [
        "cmdline-x86_64",
        "initramfs-x86_64",
        "vmlinuz-x86_64",
    ]

"""Hand the recipe to a real ``linuxkit`` binary when a recipe asks for it.

A recipe opts in with the top-level extension key ``x-rackpilot: {builder: linuxkit}``; the key
is removed before LinuxKit sees the file, since LinuxKit rejects keys it does not know.
"""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from pathlib import Path

import yaml

ARCHITECTURES = {"x86_64": "amd64", "aarch64": "arm64"}


def build_with_linuxkit(
    recipe_text: str, *, arch: str, out_dir: Path, log: Callable[[str], None]
):  # -> list[Artifact]; typed loosely to avoid an import cycle with build.py
    from builds.builder.build import Artifact, BuildError

    binary = shutil.which("linuxkit")
    if binary is None:
        raise BuildError(
            "the recipe asks for the linuxkit builder (x-rackpilot: {builder: linuxkit}) but "
            "no 'linuxkit' binary is on PATH; remove the key to use the built-in builder"
        )
    recipe = yaml.safe_load(recipe_text)
    recipe.pop("x-rackpilot", None)
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".linuxkit-") as work:
        source = Path(work) / "hook.yml"
        source.write_text(yaml.safe_dump(recipe))
        command = [
            binary,
            "build",
            "--format",
            "kernel+initrd",
            "--arch",
            ARCHITECTURES.get(arch, arch),
            "--dir",
            work,
            "--name",
            "hook",
            str(source),
        ]
        log("running " + " ".join(command))
        completed = subprocess.run(command, capture_output=True, text=True, check=False)
        for line in (completed.stdout + completed.stderr).splitlines():
            log(line)
        if completed.returncode != 0:
            raise BuildError(f"linuxkit build failed with exit code {completed.returncode}")
        produced = {"hook-kernel": f"vmlinuz-{arch}", "hook-initrd.img": f"initramfs-{arch}"}
        artifacts = []
        for name, final in produced.items():
            path = out_dir / final
            shutil.move(Path(work) / name, path)
            artifacts.append(
                Artifact(
                    final,
                    path,
                    path.stat().st_size,
                    hashlib.sha256(path.read_bytes()).hexdigest(),
                )
            )
        return artifacts

"""The Rackpilot Hook's images: a Debian kernel image and a base image, pushed to a registry.

``build_hook_images`` runs debootstrap (cached per suite, arch and package list), then makes
two OCI images from what it installed, with no Docker daemon:

- ``<registry>/rackpilot/hook-kernel:<arch>``: Debian's generic kernel (``/boot/vmlinuz-*``)
  and its modules under ``/lib/modules``, less the trees a provisioning OS has no use for
  (graphics, sound, wireless, media);
- ``<registry>/rackpilot/hook-base:<arch>``: the root filesystem: dockerd, containerd, runc,
  Python, rackpilot-agent under ``/opt/rackpilot-agent`` and the Hook's ``/init``
  (``builds/hook/init.sh``), without documentation, locales or apt's caches.

The shipped recipes (``builds/recipes/``) name both; a Rackpilot build turns them into the
kernel and initramfs that netboot serves. Plain Python: no Django, no database.
"""

from __future__ import annotations

import fcntl
import gzip
import hashlib
import io
import os
import platform
import shutil
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from builds.builder.cache import BlobCache
from builds.builder.registry import Client

HERE = Path(__file__).resolve().parent
AGENT_SOURCE = HERE.parent.parent / "agent"
DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}
# pip's platform tags for the agent's dependencies, should a wheel have compiled parts.
WHEEL_PLATFORM = {"x86_64": "manylinux2014_x86_64", "aarch64": "manylinux2014_aarch64"}
DEFAULT_SUITE = "bookworm"
DEFAULT_MIRROR = "http://deb.debian.org/debian"
PACKAGES = (
    "docker.io",
    "python3",
    "iproute2",
    "udhcpc",
    "kmod",
    "ca-certificates",
    "e2fsprogs",
    "util-linux",
    "procps",
)
# Module trees no server being provisioned needs: left out of the kernel image (depmod then
# describes what is there).
MODULES_LEFT_OUT = (
    "kernel/drivers/gpu",
    "kernel/drivers/media",
    "kernel/drivers/net/wireless",
    "kernel/drivers/staging",
    "kernel/drivers/bluetooth",
    "kernel/drivers/iio",
    "kernel/drivers/video",
    "kernel/drivers/comedi",
    "kernel/drivers/infiniband",
    "kernel/sound",
    "kernel/net/wireless",
    "kernel/net/mac80211",
    "kernel/net/bluetooth",
)
# Left out of the base image: documentation, translations, package caches, and the kernel
# (it travels in the kernel image).
ROOTFS_LEFT_OUT = (
    "usr/share/doc/",
    "usr/share/man/",
    "usr/share/info/",
    "usr/share/locale/",
    "usr/share/lintian/",
    "var/cache/apt/",
    "var/lib/apt/lists/",
    "var/cache/debconf/",
    "boot/",
    "usr/lib/modules/",
    # containerd's and docker's development and debugging tools (dockerd runs containers
    # through the runc v2 shim; the docker CLI stays, for operators at the console).
    "usr/bin/ctr",
    "usr/bin/dnet",
    "usr/sbin/ovrouter",
    "usr/bin/containerd-shim-runc-v1",
)
FIXED_MTIME = 1_700_000_000


class HookImageError(Exception):
    pass


@dataclass
class HookImages:
    kernel: str
    base: str
    kernel_version: str
    kernel_layer_bytes: int
    base_layer_bytes: int


Log = Callable[[str], None]


def _run(command: list[str], log: Log, **kwargs: object) -> None:
    log("$ " + " ".join(command))
    completed = subprocess.run(command, capture_output=True, text=True, check=False, **kwargs)  # type: ignore[call-overload]
    if completed.returncode != 0:
        tail = "\n".join((completed.stdout + completed.stderr).strip().splitlines()[-30:])
        raise HookImageError(f"{command[0]} failed with code {completed.returncode}:\n{tail}")


def rootfs_key(suite: str, arch: str, packages: Iterable[str]) -> str:
    text = "\n".join([suite, arch, *sorted(packages)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def debootstrap_rootfs(*, cache_dir: Path, arch: str, suite: str, mirror: str, log: Log) -> Path:
    """A Debian root filesystem with the Hook's packages and the generic kernel, made once
    per (suite, arch, packages) and kept in ``cache_dir``."""
    if shutil.which("debootstrap") is None:
        raise HookImageError("debootstrap is not installed (Debian package debootstrap)")
    if os.geteuid() != 0:
        raise HookImageError("debootstrap needs root (device nodes, file owners, chroot)")
    debian_arch = DEBIAN_ARCH[arch]
    packages = (*PACKAGES, f"linux-image-{debian_arch}")
    rootfs = cache_dir / f"rootfs-{suite}-{arch}-{rootfs_key(suite, arch, packages)}"
    cache_dir.mkdir(parents=True, exist_ok=True)
    # Two builds at once (two test workers, two operators) make the root filesystem once;
    # builds of another arch or suite go on meanwhile.
    with (cache_dir / f".{rootfs.name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (rootfs / ".rackpilot-complete").exists():
            log(f"debootstrap: cached in {rootfs}")
            return rootfs
        _debootstrap(rootfs, debian_arch, packages, suite, mirror, log)
    return rootfs


def _debootstrap(
    rootfs: Path, debian_arch: str, packages: tuple[str, ...], suite: str, mirror: str, log: Log
) -> None:
    partial = rootfs.with_name(rootfs.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    _run(
        [
            "debootstrap",
            "--variant=minbase",
            f"--arch={debian_arch}",
            f"--include={','.join(packages)}",
            suite,
            str(partial),
            mirror,
        ],
        log,
    )
    (partial / ".rackpilot-complete").write_text(",".join(packages) + "\n")
    shutil.rmtree(rootfs, ignore_errors=True)
    partial.rename(rootfs)


def _kernel_version(rootfs: Path) -> str:
    kernels = sorted(rootfs.glob("boot/vmlinuz-*"))
    if len(kernels) != 1:
        raise HookImageError(f"expected one kernel in {rootfs}/boot, found {len(kernels)}")
    return kernels[0].name.removeprefix("vmlinuz-")


def _deterministic(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.mtime = FIXED_MTIME
    return info


class _Layer:
    """A gzip tar layer written to a file, with the diff id (sha256 of the plain tar) that an
    image config lists."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._raw = path.open("wb")
        self._digest = hashlib.sha256()
        self._gzip = gzip.GzipFile(fileobj=self._raw, mode="wb", compresslevel=1, mtime=0)
        layer = self

        class _Tee:
            def write(self, data: bytes) -> int:
                layer._digest.update(data)
                return layer._gzip.write(data)

        self.tar = tarfile.open(  # type: ignore[call-overload]  # noqa: SIM115 - closed by close()
            fileobj=_Tee(), mode="w|", format=tarfile.PAX_FORMAT
        )

    def close(self) -> str:
        self.tar.close()
        self._gzip.close()
        self._raw.close()
        return f"sha256:{self._digest.hexdigest()}"


def _add_tree(
    tar: tarfile.TarFile, root: Path, skip: Callable[[str], bool] = lambda path: False, at: str = ""
) -> None:
    """Every entry below ``root`` (without following links), sorted, named relative to it, or
    under the directory ``at`` (made first) when given. ``skip`` sees the relative name, with
    a trailing slash for directories."""
    if at:
        parts = at.split("/")
        for end in range(1, len(parts) + 1):
            info = tarfile.TarInfo("/".join(parts[:end]))
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, FIXED_MTIME
            tar.addfile(info)
    for directory, subdirectories, files in os.walk(root):
        subdirectories.sort()
        relative_dir = os.path.relpath(directory, root)
        kept = []
        for name in subdirectories:
            relative = name if relative_dir == "." else f"{relative_dir}/{name}"
            if skip(relative + "/"):
                continue
            kept.append(name)
            tar.add(
                os.path.join(directory, name),
                arcname=f"{at}/{relative}" if at else relative,
                recursive=False,
                filter=_deterministic,
            )
        subdirectories[:] = kept
        for name in sorted(files):
            relative = name if relative_dir == "." else f"{relative_dir}/{name}"
            if not skip(relative):
                tar.add(
                    os.path.join(directory, name),
                    arcname=f"{at}/{relative}" if at else relative,
                    filter=_deterministic,
                )


def _add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int) -> None:
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), mode, FIXED_MTIME
    tar.addfile(info, fileobj=io.BytesIO(data))


def kernel_layer(rootfs: Path, version: str, scratch: Path, log: Log) -> tuple[Path, str]:
    """``boot/vmlinuz-<version>`` and the kept modules, with depmod's indexes made for them."""
    tree = scratch / "kernel"
    modules = tree / "lib" / "modules" / version
    source = rootfs / "usr" / "lib" / "modules" / version
    if not source.is_dir():
        source = rootfs / "lib" / "modules" / version
    shutil.copytree(
        source,
        modules,
        symlinks=True,
        ignore=lambda directory, names: [
            name
            for name in names
            if os.path.relpath(os.path.join(directory, name), source).startswith(MODULES_LEFT_OUT)
        ],
    )
    for link in ("build", "source"):
        (modules / link).unlink(missing_ok=True)
    _run(["depmod", "-b", str(tree), version], log)
    (tree / "boot").mkdir()
    shutil.copy2(rootfs / "boot" / f"vmlinuz-{version}", tree / "boot" / f"vmlinuz-{version}")
    layer = _Layer(scratch / "kernel.tar.gz")
    _add_tree(layer.tar, tree)
    return layer.path, layer.close()


def agent_tree(arch: str, scratch: Path, log: Log) -> Path:
    """rackpilot-agent and its dependencies for the Hook's Python (3.11), byte-compiled."""
    wheels = scratch / "wheels"
    target = scratch / "agent"
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    # Built from a copy: setuptools leaves build/ and *.egg-info next to the sources.
    source = scratch / "agent-source"
    shutil.copytree(
        AGENT_SOURCE, source, ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__")
    )
    _run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(source)], log)
    (wheel,) = wheels.glob("rackpilot_agent-*.whl")
    _run(
        [
            *pip,
            "install",
            "--target",
            str(target),
            "--only-binary=:all:",
            "--implementation",
            "cp",
            "--python-version",
            "3.11",
            "--platform",
            WHEEL_PLATFORM[arch],
            "--platform",
            "any",
            str(wheel),
        ],
        log,
    )
    shutil.rmtree(target / "bin", ignore_errors=True)
    # Compiled now rather than at every boot, under a CPU that may be emulated.
    _run([sys.executable, "-m", "compileall", "-q", "-j", "0", str(target)], log)
    return target


AGENT_WRAPPER = b"""#!/bin/sh
# rackpilot-agent, installed under /opt/rackpilot-agent by the Hook's image build.
PYTHONPATH=/opt/rackpilot-agent exec python3 -m rackpilot_agent "$@"
"""


def base_layer(rootfs: Path, agent: Path, scratch: Path) -> tuple[Path, str]:
    layer = _Layer(scratch / "base.tar.gz")
    _add_tree(
        layer.tar,
        rootfs,
        skip=lambda path: path.startswith(ROOTFS_LEFT_OUT) or path == ".rackpilot-complete",
    )
    _add_tree(layer.tar, agent, at="opt/rackpilot-agent")
    _add_file(layer.tar, "usr/local/bin/rackpilot-agent", AGENT_WRAPPER, 0o755)
    _add_file(layer.tar, "init", (HERE / "init.sh").read_bytes(), 0o755)
    _add_file(layer.tar, "etc/rackpilot-hook/udhcpc.sh", (HERE / "udhcpc.sh").read_bytes(), 0o755)
    _add_file(layer.tar, "etc/hostname", b"rackpilot-hook\n", 0o644)
    return layer.path, layer.close()


def _image_config(arch: str, diff_id: str, **config: object) -> dict[str, object]:
    return {
        "architecture": DEBIAN_ARCH[arch],
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
    }


def build_hook_images(
    *,
    registry: str,
    arch: str,
    cache_dir: Path,
    suite: str = DEFAULT_SUITE,
    mirror: str = DEFAULT_MIRROR,
    insecure: bool = False,
    repository: str = "rackpilot",
    log: Log = print,
) -> HookImages:
    """Build and push the kernel and base images of the Rackpilot Hook for ``arch``."""
    if arch not in DEBIAN_ARCH:
        raise HookImageError(f"arch must be one of {sorted(DEBIAN_ARCH)}, not {arch!r}")
    if arch != platform.machine() and not Path(f"/usr/bin/qemu-{arch}-static").exists():
        raise HookImageError(
            f"building for {arch} on {platform.machine()} runs its packages' scripts under "
            f"emulation: install qemu-user-static (and binfmt-support)"
        )
    rootfs = debootstrap_rootfs(cache_dir=cache_dir, arch=arch, suite=suite, mirror=mirror, log=log)
    version = _kernel_version(rootfs)
    client = Client(
        cache=BlobCache(cache_dir / "blobs"), insecure_registries=[registry] if insecure else []
    )
    kernel_ref = f"{registry}/{repository}/hook-kernel:{arch}"
    base_ref = f"{registry}/{repository}/hook-base:{arch}"
    with tempfile.TemporaryDirectory(dir=cache_dir, prefix=".work-") as work:
        scratch = Path(work)
        log(f"kernel {version}: packing the kernel and its modules")
        kernel_path, kernel_diff = kernel_layer(rootfs, version, scratch, log)
        log("agent: installing rackpilot-agent")
        agent = agent_tree(arch, scratch, log)
        log("base: packing the root filesystem")
        base_path, base_diff = base_layer(rootfs, agent, scratch)
        kernel_bytes, base_bytes = kernel_path.stat().st_size, base_path.stat().st_size
        log(f"pushing {kernel_ref} ({kernel_bytes} bytes)")
        client.push_image(kernel_ref, [kernel_path.read_bytes()], _image_config(arch, kernel_diff))
        log(f"pushing {base_ref} ({base_bytes} bytes)")
        client.push_image(
            base_ref,
            [base_path.read_bytes()],
            _image_config(
                arch, base_diff, Cmd=["/init"], Env=["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
            ),
        )
    return HookImages(
        kernel=kernel_ref,
        base=base_ref,
        kernel_version=version,
        kernel_layer_bytes=kernel_bytes,
        base_layer_bytes=base_bytes,
    )

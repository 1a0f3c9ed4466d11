from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

import pytest
from libarchive.entry import FileType

from builds.builder import BuildCancelled, BuildError, build
from builds.builder.cache import BlobCache
from builds.builder.registry import Client
from tests.builds.images import Layer, PushedImages, read_cpio
from tests.builds.proxy import registry_front

BUNDLE = "containers/onboot/000-layered"
ROOTFS = f"{BUNDLE}/lower"  # not read-only: init overlays rootfs on it


def _build(images: PushedImages, out: Path, cache: Path, **kwargs):
    kwargs.setdefault("insecure_registries", [images.registry])
    return build(
        kwargs.pop("recipe", None) or images.recipe(),
        arch="x86_64",
        out_dir=out,
        cache_dir=cache,
        **kwargs,
    )


def test_build_produces_kernel_and_initramfs(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs
    progress: list[tuple[int, str]] = []
    lines: list[str] = []

    result = _build(
        test_images, out, cache, progress=lambda p, s: progress.append((p, s)), log=lines.append
    )

    kernel, initramfs = result.artifacts
    assert (kernel.name, initramfs.name) == ("vmlinuz-x86_64", "initramfs-x86_64")
    source = Path(f"/boot/vmlinuz-{test_images.version}").read_bytes()
    assert kernel.path.read_bytes() == source
    assert kernel.size == len(source)
    assert initramfs.sha256 == hashlib.sha256(initramfs.path.read_bytes()).hexdigest()
    assert initramfs.path.read_bytes()[:4] == b"\x28\xb5\x2f\xfd"  # zstd frame magic
    assert [s.name for s in result.steps] == [
        "pull images",
        "extract kernel",
        "write initramfs",
        "checksums",
    ]
    assert result.downloaded_bytes > 1_000_000  # the gzipped layers, kernel included
    assert progress[-1] == (100, "done")
    assert (
        "warning: 27:1: trust: ignored (images are checked against their digests, "
        "not Docker Content Trust)"
    ) in lines


def test_initramfs_contents(test_images: PushedImages, build_dirs: tuple[Path, Path]) -> None:
    out, cache = build_dirs

    result = _build(test_images, out, cache)
    entries = read_cpio(result.artifacts[1].path)

    assert entries["dev/console"]["type"] == FileType.CHAR_DEVICE
    assert entries["dev/console"]["rdev"] == (5, 1)
    # init image at the root, kernel modules from the kernel image next to it
    assert entries["init"]["mode"] == 0o755
    assert entries["bin/sh"]["issym"] and entries["bin/sh"]["linkpath"] == "busybox"
    assert f"lib/modules/{test_images.version}/modules.dep" in entries
    assert not any(name.startswith("boot/") for name in entries)
    # whiteouts: the file and the directory with its contents are gone, no marker files left
    assert f"{ROOTFS}/etc/keep" in entries
    assert f"{ROOTFS}/etc/gone" not in entries
    assert f"{ROOTFS}/etc/gonedir" not in entries
    assert f"{ROOTFS}/etc/gonedir/inside" not in entries
    assert not [name for name in entries if "/.wh." in name]
    # the opaque directory holds only the upper layer's entries
    assert sorted(n for n in entries if n.startswith(f"{ROOTFS}/opaque/")) == [
        f"{ROOTFS}/opaque/new"
    ]
    # links, owners and special files
    link = entries[f"{ROOTFS}/etc/link"]
    assert link["issym"] and link["linkpath"] == "keep"
    hardlink = entries[f"{ROOTFS}/etc/hardlink"]
    assert hardlink["islnk"] and hardlink["linkpath"] == f"{ROOTFS}/etc/original"
    owned = entries[f"{ROOTFS}/etc/owned"]
    assert (owned["uid"], owned["gid"], owned["mode"]) == (1000, 1001, 0o640)
    assert entries[f"{ROOTFS}/dev/mydev"]["type"] == FileType.CHAR_DEVICE
    assert entries[f"{ROOTFS}/dev/mydev"]["rdev"] == (10, 200)
    assert entries[f"{ROOTFS}/dev/myblock"]["type"] == FileType.BLOCK_DEVICE
    assert entries[f"{ROOTFS}/dev/myblock"]["rdev"] == (8, 3)
    assert entries[f"{ROOTFS}/dev/myfifo"]["type"] == FileType.NAMED_PIPE
    # a service of the same image shares the onboot container's files instead of a second copy
    assert not [e for e in entries if e.startswith("containers/services/layered-service/lower")]
    assert "containers/services/layered-service/rootfs" in entries
    # files written last
    assert entries["etc/rackpilot-file"]["data"] == b"from-files-section"
    assert entries["etc/rackpilot-link"]["linkpath"] == "/etc/rackpilot-file"


def test_bundle_config_json(test_images: PushedImages, build_dirs: tuple[Path, Path]) -> None:
    out, cache = build_dirs

    entries = read_cpio(_build(test_images, out, cache).artifacts[1].path)
    onboot = json.loads(entries[f"{BUNDLE}/config.json"]["data"])  # type: ignore[arg-type]
    service = json.loads(
        entries["containers/services/layered-service/config.json"]["data"]  # type: ignore[arg-type]
    )

    # LinuxKit's ConfigToOCI: the recipe's command and env replace the image's; cwd is the image's
    assert onboot["process"]["args"] == ["/bin/true", "--flag"]
    assert onboot["process"]["env"] == ["EXTRA=1"]
    assert onboot["process"]["cwd"] == "/etc"
    capabilities = onboot["process"]["capabilities"]
    assert capabilities["bounding"] == ["CAP_NET_ADMIN", "CAP_SYS_ADMIN"]  # sorted
    assert capabilities["effective"] == ["CAP_SYS_ADMIN", "CAP_NET_ADMIN"]  # as written
    assert onboot["root"] == {"path": "rootfs"}
    assert [ns["type"] for ns in onboot["linux"]["namespaces"]] == ["mount", "cgroup"]
    mounts = {m["destination"]: m for m in onboot["mounts"]}
    assert list(mounts) == sorted(mounts)
    assert mounts["/etc/resolv.conf"]["options"] == ["ro", "rbind"]
    assert mounts["/var/run"] == {
        "destination": "/var/run",
        "type": "bind",
        "source": "/var/run",
        "options": ["rw", "rbind", "rshared"],
    }
    assert mounts["/sys/fs/cgroup"]["type"] == "cgroup"
    # a service without a command runs the image's Entrypoint + Cmd, in a pid namespace of its
    # own, with no capabilities unless it asks (LinuxKit's defaults)
    assert service["process"]["args"] == ["/bin/sh", "-c", "true"]
    assert service["process"]["env"] == ["A=1"]
    assert [ns["type"] for ns in service["linux"]["namespaces"]] == ["pid", "mount", "cgroup"]
    assert "capabilities" not in service["process"] or not service["process"]["capabilities"]


def test_bundles_carry_runtime_json_with_the_rootfs_mounts(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs

    entries = read_cpio(_build(test_images, out, cache).artifacts[1].path)
    onboot = json.loads(entries[f"{BUNDLE}/runtime.json"]["data"])  # type: ignore[arg-type]
    service = json.loads(
        entries["containers/services/layered-service/runtime.json"]["data"]  # type: ignore[arg-type]
    )

    assert onboot["mounts"] == [
        {"destination": f"/{BUNDLE}/tmp", "type": "tmpfs", "source": "tmpfs"},
        {"destination": f"/{BUNDLE}/tmp", "options": ["remount", "private"]},
        {
            "destination": f"/{BUNDLE}/rootfs",
            "type": "overlay",
            "source": "overlay",
            "options": [
                f"lowerdir=/{ROOTFS}",
                f"upperdir=/{BUNDLE}/tmp/upper",
                f"workdir=/{BUNDLE}/tmp/work",
            ],
        },
    ]
    assert (onboot["mkdir"], onboot["interfaces"], onboot["namespace"]) == ([], [], "")
    assert onboot["bindNS"] == dict.fromkeys(
        ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts"), ""
    )
    # the service's overlay sits on the onboot container's copy of the same image
    assert f"lowerdir=/{ROOTFS}" in service["mounts"][2]["options"]
    # LinuxKit's fixes to every image: Docker's files dropped, hosts/resolv.conf/mtab written
    assert entries[f"{ROOTFS}/etc/hosts"]["data"].startswith(b"127.0.0.1       localhost")  # type: ignore[union-attr]
    assert entries[f"{ROOTFS}/etc/resolv.conf"]["data"] == b"\n# no resolv.conf configured\n"
    assert entries[f"{ROOTFS}/etc/mtab"]["linkpath"] == "/proc/mounts"
    assert {f"{ROOTFS}/{d}" for d in ("dev/pts", "dev/shm", "proc", "sys")} <= set(entries)


def test_second_build_downloads_nothing(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs
    first = _build(test_images, out, cache)

    second = _build(test_images, out / "again", cache)

    assert first.downloaded_bytes > 0 and first.cache_hits == 0
    assert second.downloaded_bytes == 0
    assert second.cache_hits == 8  # 3 configs + 2 (kernel) + 1 (init) + 2 (layered) layers
    assert second.artifacts[0].sha256 == first.artifacts[0].sha256


def test_gzip_compression(test_images: PushedImages, build_dirs: tuple[Path, Path]) -> None:
    out, cache = build_dirs

    result = _build(test_images, out, cache, compression="gzip")

    initramfs = result.artifacts[1].path
    assert initramfs.read_bytes()[:2] == b"\x1f\x8b"
    assert "init" in read_cpio(initramfs)


def test_cancel_stops_the_build(test_images: PushedImages, build_dirs: tuple[Path, Path]) -> None:
    out, cache = build_dirs
    steps: list[str] = []

    with pytest.raises(BuildCancelled, match="cancelled"):
        _build(
            test_images,
            out,
            cache,
            progress=lambda _, step: steps.append(step),
            should_cancel=lambda: "write initramfs" in steps,
        )

    assert not (out / "initramfs-x86_64").exists()


def test_bad_recipe_fails_clearly(build_dirs: tuple[Path, Path]) -> None:
    out, cache = build_dirs

    with pytest.raises(BuildError, match=r"1:1: kernel: missing"):
        build("init: []\n", arch="x86_64", out_dir=out, cache_dir=cache)


def test_missing_image_fails_clearly(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs
    missing = f"{test_images.registry}/rackpilot-builds-missing/kernel:v9"

    with pytest.raises(BuildError, match=r"rackpilot-builds-missing/kernel:v9: manifest not found"):
        _build(test_images, out, cache, recipe=test_images.recipe(kernel=missing))


def test_linuxkit_builder_without_binary_fails_clearly(build_dirs: tuple[Path, Path]) -> None:
    out, cache = build_dirs
    recipe = "kernel:\n  image: linuxkit/kernel:6.6\nx-rackpilot:\n  builder: linuxkit\n"

    with pytest.raises(BuildError, match="no 'linuxkit' binary is on PATH"):
        build(recipe, arch="x86_64", out_dir=out, cache_dir=cache)


def test_digest_mismatch_from_a_mirror_fails_clearly(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs

    with (
        registry_front(test_images.registry, corrupt_blobs=True) as (mirror, seen),
        pytest.raises(BuildError, match=r"blob sha256:[0-9a-f]{64} arrived with digest"),
    ):
        _build(
            test_images,
            out,
            cache,
            mirrors={test_images.registry: [mirror]},
            insecure_registries=[test_images.registry, mirror],
        )

    assert any("/blobs/" in path for path in seen)  # the mirror was asked first
    assert not list((cache / "blobs" / "sha256").iterdir())  # nothing unverified was kept


def test_bearer_token_flow_with_basic_credentials(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs

    with registry_front(test_images.registry, credentials=("robot", "s3cret")) as (front, seen):
        images = PushedImages(
            registry=front,
            kernel=test_images.kernel.replace(test_images.registry, front),
            init=test_images.init.replace(test_images.registry, front),
            layered=test_images.layered.replace(test_images.registry, front),
            version=test_images.version,
        )
        result = build(
            images.recipe(),
            arch="x86_64",
            out_dir=out,
            cache_dir=cache,
            insecure_registries=[front],
            credentials={front: ("robot", "s3cret")},
        )

    assert result.artifacts[0].size > 0
    assert any(path.startswith("/token?") for path in seen)


def test_linuxkit_shaped_kernel_image(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    """LinuxKit kernel images hold /kernel and a kernel.tar of modules unpacked at the root."""
    out, cache = build_dirs
    modules = Layer()
    modules.directory("lib")
    modules.directory("lib/modules")
    modules.file("lib/modules/test.ko", b"module")
    inner = gzip.decompress(modules.blob())
    outer = Layer()
    outer.file("kernel", b"bzImage-bytes")
    outer.file("kernel.tar", inner)
    image = f"{test_images.registry}/{test_images.kernel.split('/')[1]}/lk-kernel:v1"
    Client(cache=BlobCache(cache / "push"), insecure_registries=[test_images.registry]).push_image(
        image, [outer.blob()], {"architecture": "amd64", "os": "linux", "config": {}}
    )

    result = _build(test_images, out, cache, recipe=test_images.recipe(kernel=image))

    assert result.artifacts[0].path.read_bytes() == b"bzImage-bytes"
    entries = read_cpio(result.artifacts[1].path)
    assert entries["lib/modules/test.ko"]["data"] == b"module"
    assert "kernel.tar" not in entries


def test_cancel_during_a_download_keeps_no_partial_blob(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    out, cache = build_dirs
    polls: list[int] = []

    def cancel_after_a_few_polls() -> bool:
        polls.append(1)
        return len(polls) > 4  # inside the first blob downloads

    with pytest.raises(BuildCancelled):
        _build(test_images, out, cache, should_cancel=cancel_after_a_few_polls)

    assert not list((cache / "blobs" / "sha256").glob(".partial-*"))
    assert not list(out.iterdir())


def test_a_merged_usr_root_gets_the_kernel_modules_under_usr_lib(
    test_images: PushedImages, build_dirs: tuple[Path, Path]
) -> None:
    """Debian's root has /lib -> usr/lib: modules written to a real lib/ first would keep the
    link from being made, and every library would be missing at boot."""
    root = Layer()
    root.symlink("lib", "usr/lib")
    root.directory("usr")
    root.directory("usr/lib")
    root.file("usr/lib/libc-marker.so", b"libc\n")
    client = Client(
        cache=BlobCache(build_dirs[1] / "push"), insecure_registries=[test_images.registry]
    )
    merged = test_images.init.replace("/init:v1", "/merged-usr:v1")
    client.push_image(merged, [root.blob()], {"architecture": "amd64", "os": "linux", "config": {}})
    out, cache = build_dirs
    recipe = f"kernel:\n  image: {test_images.kernel}\ninit:\n  - {merged}\n"

    result = _build(test_images, out, cache, recipe=recipe)

    entries = read_cpio(result.artifacts[1].path)
    assert entries["lib"]["issym"] and entries["lib"]["linkpath"] == "usr/lib"
    modules = [
        path for path in entries if path.startswith(f"usr/lib/modules/{test_images.version}/")
    ]
    assert any(".ko" in path for path in modules), modules
    assert f"usr/lib/modules/{test_images.version}/modules.dep" in entries
    assert not [path for path in entries if path.startswith("lib/")]
    assert "usr/lib/libc-marker.so" in entries

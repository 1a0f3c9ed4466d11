"""Container bundles and volumes written into the initramfs the way ``linuxkit build`` lays them
out, so LinuxKit's init (and HookOS's services) find what they expect.

A container's image goes to ``<bundle>/rootfs`` when it is read-only and to ``<bundle>/lower``
otherwise (init mounts an overlay at ``rootfs``); an image already written for an earlier
container is not written twice, the later bundle points at the first copy. Every bundle gets
``config.json`` and ``runtime.json``. Image files Docker would inject are dropped and the few
LinuxKit fixes (``etc/hosts``, ``etc/resolv.conf``, ``etc/mtab``, ``dev``, ``proc``...) are
written the way LinuxKit writes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from builds.builder import layers as layer_tools
from builds.builder.initramfs import CpioWriter
from builds.builder.layout import VOLUMES_ROOT, ContainerConfig, encode, rootfs_mounts
from builds.builder.registry import PulledImage

# Files `docker export` adds that are no part of the image.
EXCLUDED = {".dockerenv", "Dockerfile", "dev/console", "dev/pts", "dev/shm", "etc/hostname"}
REPLACED = {
    "etc/hosts": (
        "127.0.0.1       localhost\n::1     localhost ip6-localhost ip6-loopback\n"
        "fe00::0 ip6-localnet\nff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\n"
        "ff02::2 ip6-allrouters\n"
    ),
    "etc/resolv.conf": "\n# no resolv.conf configured\n",
}
ENSURED_DIRECTORIES = ("dev", "dev/pts", "dev/shm", "etc", "proc", "sys")


@dataclass
class BundleWriter:
    """Writes bundles in recipe order, remembering where each image's files went."""

    writer: CpioWriter
    check_cancel: Callable[[], None]
    written_roots: dict[str, str] = field(default_factory=dict)

    def image_files(self, image: PulledImage, prefix: str) -> int:
        """The image's flattened files under ``prefix`` with LinuxKit's fixes applied."""
        self.writer.directory(prefix, mode=0o755)
        index = layer_tools.index_stack(image.layers, self.check_cancel)
        count = layer_tools.stream_stack(
            image.layers,
            index,
            self.writer,
            prefix=f"{prefix}/",
            include=lambda path: path not in EXCLUDED and path not in REPLACED,
            check_cancel=self.check_cancel,
        )
        for directory in ENSURED_DIRECTORIES:
            if directory in EXCLUDED or directory not in index.directories:
                self.writer.directory(f"{prefix}/{directory}", mode=0o755)
        if "etc/mtab" not in index.winners:
            self.writer.symlink(f"{prefix}/etc/mtab", "/proc/mounts")
        for path, text in REPLACED.items():
            data = text.encode()
            self.writer.file(f"{prefix}/{path}", (data,), len(data), mode=0o644)
        return count

    def container(
        self, image: PulledImage, bundle: str, config: ContainerConfig
    ) -> tuple[int, bool]:
        """Write one bundle; return the entries written and whether the files were shared."""
        readonly = config.readonly
        self.writer.directory(bundle, mode=0o755)
        shared = image.manifest_digest in self.written_roots
        if shared:
            root = self.written_roots[image.manifest_digest]
            count = 0
        else:
            root = f"{bundle}/rootfs" if readonly else f"{bundle}/lower"
            count = self.image_files(image, root)
            self.written_roots[image.manifest_digest] = root
        data = encode(config.config)
        self.writer.file(f"{bundle}/config.json", (data,), len(data), mode=0o644)
        if not readonly:
            self.writer.directory(f"{bundle}/tmp", mode=0o755)
        if not readonly or shared:
            self.writer.directory(f"{bundle}/rootfs", mode=0o755)
        runtime = dict(config.runtime)
        runtime["mounts"] = [*rootfs_mounts(bundle, root, readonly), *runtime["mounts"]]
        data = encode(runtime)
        self.writer.file(f"{bundle}/runtime.json", (data,), len(data), mode=0o644)
        return count, shared

    def volume(self, name: str, image: PulledImage | None) -> int:
        """A volume's files go to ``lower``; init overlays ``merged`` on them (``tmp`` holds the
        writable layer), and containers bind ``merged`` by the volume's name."""
        base = f"{VOLUMES_ROOT}/{name}"
        self.writer.directory(base, mode=0o755)
        if image is None:
            self.writer.directory(f"{base}/lower", mode=0o755)
            count = 0
        else:
            count = self.image_files(image, f"{base}/lower")
        self.writer.directory(f"{base}/tmp", mode=0o755)
        self.writer.directory(f"{base}/merged", mode=0o755)
        return count

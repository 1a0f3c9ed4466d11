"""Test images for the Hook builder, made without a Docker daemon: tar layers written with
tarfile and pushed with the builder's own registry client."""

from __future__ import annotations

import gzip
import io
import tarfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from builds.builder.cache import BlobCache
from builds.builder.registry import Client

BUSYBOX = Path("/bin/busybox")
MODULES_ROOT = Path("/lib/modules")
# The order the cloud kernel needs them in (virtio-net is a module there).
VIRTIO_CHAIN = [
    "virtio_ring",
    "virtio",
    "virtio_pci_modern_dev",
    "virtio_pci_legacy_dev",
    "virtio_pci",
    "failover",
    "net_failover",
    "virtio_net",
    # Not networking, but the netboot discovery test's guest reports its virtio disk.
    "virtio_blk",
]
MARKER = "RACKPILOT-HOOK-BOOTED"
APPLETS = ["sh", "mount", "insmod", "ip", "udhcpc", "poweroff", "echo", "sleep", "cat", "mkdir"]


class Layer:
    """A gzip-compressed tar layer assembled in memory."""

    def __init__(self) -> None:
        self._buffer = io.BytesIO()
        self._tar = tarfile.open(  # noqa: SIM115 - closed by blob()
            fileobj=self._buffer, mode="w", format=tarfile.PAX_FORMAT
        )

    def _add(self, info: tarfile.TarInfo, data: bytes | None = None) -> None:
        info.mtime = 1_700_000_000
        self._tar.addfile(info, io.BytesIO(data) if data is not None else None)

    def directory(self, name: str, mode: int = 0o755) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.mode = tarfile.DIRTYPE, mode
        self._add(info)

    def file(self, name: str, data: bytes, mode: int = 0o644, uid: int = 0, gid: int = 0):
        info = tarfile.TarInfo(name)
        info.size, info.mode, info.uid, info.gid = len(data), mode, uid, gid
        self._add(info, data)

    def symlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, target, 0o777
        self._add(info)

    def hardlink(self, name: str, target: str) -> None:
        info = tarfile.TarInfo(name)
        info.type, info.linkname, info.mode = tarfile.LNKTYPE, target, 0o644
        self._add(info)

    def device(self, name: str, kind: bytes, major: int, minor: int, mode: int = 0o660):
        info = tarfile.TarInfo(name)
        info.type, info.devmajor, info.devminor, info.mode = kind, major, minor, mode
        self._add(info)

    def blob(self) -> bytes:
        self._tar.close()
        return gzip.compress(self._buffer.getvalue(), mtime=0)


def _config(**config: object) -> dict[str, object]:
    return {
        "architecture": "amd64",
        "os": "linux",
        "config": config,
        "rootfs": {"type": "layers", "diff_ids": []},
    }


def _directories(layer: Layer, path: str, made: set[str]) -> None:
    parts = path.split("/")
    for end in range(1, len(parts)):
        parent = "/".join(parts[:end])
        if parent not in made:
            layer.directory(parent)
            made.add(parent)


def kernel_version() -> str:
    versions = sorted(p.name for p in MODULES_ROOT.iterdir() if "cloud" in p.name)
    return versions[-1]


def module_paths(version: str) -> list[str]:
    """The virtio chain's module files, relative to /lib/modules/<version>/, in load order."""
    root = MODULES_ROOT / version / "kernel"
    paths = []
    for name in VIRTIO_CHAIN:
        found = [p for p in root.rglob(f"{name}.ko*") if p.name.split(".ko")[0] == name]
        paths.append(str(found[0].relative_to(MODULES_ROOT / version)))
    return paths


def kernel_layer(version: str) -> bytes:
    layer = Layer()
    made: set[str] = set()
    _directories(layer, f"boot/vmlinuz-{version}", made)
    layer.file(f"boot/vmlinuz-{version}", Path(f"/boot/vmlinuz-{version}").read_bytes())
    base = f"lib/modules/{version}"
    for module in module_paths(version):
        _directories(layer, f"{base}/{module}", made)
        layer.file(f"{base}/{module}", (MODULES_ROOT / version / module).read_bytes())
    for extra in ("modules.dep", "modules.order", "modules.builtin", "modules.alias"):
        layer.file(f"{base}/{extra}", (MODULES_ROOT / version / extra).read_bytes())
    return layer.blob()


UCODE_NAME = "intel-ucode.cpio"


def ucode_cpio() -> bytes:
    """An early-microcode archive shaped as LinuxKit kernel images ship it: uncompressed cpio
    holding kernel/x86/microcode/GenuineIntel.bin (bytes no CPU accepts, so nothing is loaded)."""
    import libarchive

    blob = b"\x00" * 48
    with io.BytesIO() as buffer:
        with libarchive.custom_writer(buffer.write, "cpio_newc") as archive:
            archive.add_file_from_memory("kernel/x86/microcode/GenuineIntel.bin", len(blob), blob)
        return buffer.getvalue()


def ucode_layer() -> bytes:
    layer = Layer()
    layer.file(UCODE_NAME, ucode_cpio())
    return layer.blob()


def init_script(version: str) -> str:
    loads = "\n".join(f"insmod /lib/modules/{version}/{m}" for m in module_paths(version))
    return f"""#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
{loads}
ip link set lo up
ip link set eth0 up
udhcpc -i eth0 -q -n -t 5 -s /etc/udhcpc.sh
echo "{MARKER} $(cat /etc/rackpilot-file)"
poweroff -f
"""


UDHCPC_SCRIPT = """#!/bin/sh
if [ "$1" = bound ]; then
  ip addr add "$ip/$mask" dev "$interface"
  echo "lease $ip on $interface"
fi
"""


def init_layer(version: str) -> bytes:
    layer = Layer()
    for directory in ("bin", "etc", "proc", "sys", "dev", "tmp"):
        layer.directory(directory)
    layer.file("bin/busybox", BUSYBOX.read_bytes(), mode=0o755)
    for applet in APPLETS:
        layer.symlink(f"bin/{applet}", "busybox")
    layer.file("init", init_script(version).encode(), mode=0o755)
    layer.file("etc/udhcpc.sh", UDHCPC_SCRIPT.encode(), mode=0o755)
    return layer.blob()


def layered_layers() -> list[bytes]:
    """Two layers: the upper whiteouts a file, makes a directory opaque and adds links and
    special files."""
    lower = Layer()
    lower.directory("etc")
    lower.file("etc/keep", b"kept\n")
    lower.file("etc/gone", b"whited out\n")
    lower.directory("etc/gonedir")
    lower.file("etc/gonedir/inside", b"whited out with its directory\n")
    lower.directory("opaque")
    lower.file("opaque/old", b"hidden by the opaque marker\n")
    lower.directory("opaque/sub")
    lower.file("opaque/sub/older", b"hidden too\n")
    lower.file("etc/owned", b"owned\n", mode=0o640, uid=1000, gid=1001)
    upper = Layer()
    upper.directory("etc")
    upper.file("etc/.wh.gone", b"")
    upper.file("etc/.wh.gonedir", b"")
    upper.directory("opaque")
    upper.file("opaque/.wh..wh..opq", b"")
    upper.file("opaque/new", b"new\n")
    upper.symlink("etc/link", "keep")
    upper.file("etc/original", b"linked content\n", mode=0o600)
    upper.hardlink("etc/hardlink", "etc/original")
    upper.directory("dev")
    upper.device("dev/mydev", tarfile.CHRTYPE, 10, 200)
    upper.device("dev/myblock", tarfile.BLKTYPE, 8, 3)
    upper.device("dev/myfifo", tarfile.FIFOTYPE, 0, 0)
    return [lower.blob(), upper.blob()]


@dataclass
class PushedImages:
    registry: str
    kernel: str
    init: str
    layered: str
    version: str

    def recipe(self, **overrides: str) -> str:
        kernel = overrides.get("kernel", self.kernel)
        return f"""kernel:
  image: {kernel}
  cmdline: "console=ttyS0"
init:
  - {self.init}
onboot:
  - name: layered
    image: {self.layered}
    command: ["/bin/true", "--flag"]
    capabilities: [CAP_SYS_ADMIN, CAP_NET_ADMIN]
    net: host
    pid: host
    binds:
      - /var/run:/var/run
      - /etc/resolv.conf:/etc/resolv.conf:ro
    env:
      - EXTRA=1
services:
  - name: layered-service
    image: {self.layered}
files:
  - path: etc/rackpilot-file
    contents: "from-files-section"
    mode: "0644"
  - path: etc/rackpilot-link
    symlink: /etc/rackpilot-file
trust:
  org: [linuxkit]
"""


def push_test_images(registry: str, repository: str, scratch: Path) -> PushedImages:
    client = Client(cache=BlobCache(scratch), insecure_registries=[registry])
    version = kernel_version()
    base = f"{registry}/{repository}"
    client.push_image(f"{base}/kernel:v1", [kernel_layer(version), ucode_layer()], _config())
    client.push_image(
        f"{base}/init:v1", [init_layer(version)], _config(Cmd=["/init"], Env=["PATH=/bin"])
    )
    client.push_image(
        f"{base}/layered:v1",
        layered_layers(),
        _config(Entrypoint=["/bin/sh"], Cmd=["-c", "true"], Env=["A=1"], WorkingDir="/etc"),
    )
    return PushedImages(
        registry=registry,
        kernel=f"{base}/kernel:v1",
        init=f"{base}/init:v1",
        layered=f"{base}/layered:v1",
        version=version,
    )


def read_cpio(path: Path) -> dict[str, dict[str, object]]:
    """Every entry of a (compressed) cpio, with the attributes the tests check."""
    import libarchive

    entries: dict[str, dict[str, object]] = {}
    with libarchive.file_reader(str(path)) as archive:
        for entry in archive:
            data = b"".join(entry.get_blocks()) if entry.isreg else b""
            entries[entry.pathname.lstrip("./")] = {
                "type": entry.filetype,
                "mode": entry.perm,
                "uid": entry.uid,
                "gid": entry.gid,
                "linkpath": entry.linkpath,
                "issym": entry.issym,
                "islnk": entry.islnk,
                "rdev": (entry.rdevmajor, entry.rdevminor),
                "data": data,
                "size": entry.size,
            }
    return entries


def all_entries(entries: Iterable[str], prefix: str) -> list[str]:
    return sorted(e for e in entries if e.startswith(prefix))

"""The operating system the end-to-end workflow installs: a raw disk image built on the host
without mounting anything, and the checks that read the provisioned disk back.

Layout (MBR, as a cloud image ships it):
- partition 1, ext4: the root filesystem; the workflow's writefile action puts /etc/hostname
  here, and the installed system reads it back when it boots;
- partition 2, FAT, active: syslinux with the host's Debian kernel and a small busybox
  initramfs, whose init mounts partition 1 and prints ``INSTALLED_MARKER`` with the hostname.

syslinux installs into a FAT image through mtools, mkfs.ext4 fills a filesystem from a
folder, sfdisk writes the partition table: every step works on plain files.
"""

from __future__ import annotations

import gzip
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import libarchive

from tests.builds.images import BUSYBOX, MODULES_ROOT, kernel_version, module_paths
from tests.tools import require_tool

INSTALLED_MARKER = "RACKPILOT-INSTALLED-SYSTEM"
PLACEHOLDER_HOSTNAME = "localhost"
SYSLINUX_MBR = Path("/usr/lib/syslinux/mbr/mbr.bin")
SECTOR = 512
MIB = 1024 * 1024
ROOT_START_MIB, ROOT_SIZE_MIB = 1, 16
BOOT_START_MIB, BOOT_SIZE_MIB = 17, 24
DISK_SIZE_MIB = BOOT_START_MIB + BOOT_SIZE_MIB

INIT_APPLETS = ["sh", "mount", "umount", "insmod", "cat", "echo", "sleep", "mkdir", "poweroff"]

SYSLINUX_CONFIG = """SERIAL 0 115200
DEFAULT installed
PROMPT 0
TIMEOUT 0
LABEL installed
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0 panic=-1
"""


def _init_script(version: str) -> str:
    loads = "\n".join(f"insmod /lib/modules/{version}/{m}" for m in module_paths(version))
    return f"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
{loads}
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda1 ] && break; sleep 1; done
mkdir -p /target
mount -t ext4 -o ro /dev/vda1 /target
echo "{INSTALLED_MARKER} booted from disk, hostname=$(cat /target/etc/hostname)"
umount /target
poweroff -f
"""


def tools_present() -> None:
    """The host tools the image needs; a missing one fails in CI and skips with a reason
    locally (tests.tools.require_tool)."""
    for tool, package in (
        ("sfdisk", "fdisk"),
        ("mkfs.ext4", "e2fsprogs"),
        ("debugfs", "e2fsprogs"),
        ("mkfs.vfat", "dosfstools"),
        ("syslinux", "syslinux"),
        ("mcopy", "mtools"),
    ):
        require_tool(shutil.which(tool) is not None, f"{tool} (Debian package {package})")
    require_tool(SYSLINUX_MBR.exists(), f"{SYSLINUX_MBR} (Debian package syslinux-common)")
    require_tool(BUSYBOX.exists(), f"{BUSYBOX} (Debian package busybox-static)")


def _run(*command: str) -> None:
    subprocess.run(command, check=True, capture_output=True)


def _initramfs(version: str, path: Path, staging: Path) -> None:
    root = staging / "initramfs"
    for folder in ("bin", "proc", "sys", "dev", "target"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    shutil.copy2(BUSYBOX, root / "bin" / "busybox")
    for applet in INIT_APPLETS:
        (root / "bin" / applet).symlink_to("busybox")
    for module in module_paths(version):
        target = root / "lib" / "modules" / version / module
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(MODULES_ROOT / version / module, target)
    init = root / "init"
    init.write_text(_init_script(version))
    init.chmod(0o755)
    with libarchive.file_writer(str(path), "cpio_newc", "gzip") as archive:
        for entry in sorted(p.relative_to(root) for p in root.rglob("*")):
            archive.add_files(str(root / entry), recursive=False, pathname=str(entry))


def _root_filesystem(path: Path, staging: Path) -> None:
    root = staging / "rootfs"
    (root / "etc").mkdir(parents=True)
    (root / "etc" / "hostname").write_text(PLACEHOLDER_HOSTNAME + "\n")
    (root / "etc" / "os-release").write_text('NAME="Rackpilot test system"\nID=rackpilot-e2e\n')
    _run("truncate", "-s", f"{ROOT_SIZE_MIB}M", str(path))
    _run("mkfs.ext4", "-q", "-F", "-L", "root", "-d", str(root), str(path))


def _boot_filesystem(path: Path, staging: Path, version: str) -> None:
    initrd = staging / "initrd.gz"
    _initramfs(version, initrd, staging)
    config = staging / "syslinux.cfg"
    config.write_text(SYSLINUX_CONFIG)
    hidden = BOOT_START_MIB * MIB // SECTOR  # FAT records where its partition starts
    _run("mkfs.vfat", "-C", "-n", "BOOT", "-h", str(hidden), str(path), str(BOOT_SIZE_MIB * 1024))
    _run("syslinux", "--install", str(path))
    image = f"{path}"
    _run("mcopy", "-i", image, f"/boot/vmlinuz-{version}", "::/vmlinuz")
    _run("mcopy", "-i", image, str(initrd), "::/initrd.gz")
    _run("mcopy", "-i", image, str(config), "::/syslinux.cfg")


def _place(disk: Path, part: Path, start_mib: int) -> None:
    with disk.open("r+b") as out, part.open("rb") as source:
        out.seek(start_mib * MIB)
        shutil.copyfileobj(source, out, MIB)


@dataclass(frozen=True)
class DiskImage:
    raw: Path
    gzipped: Path


def build_disk_image(directory: Path) -> DiskImage:
    """Write ``installed.raw`` and ``installed.raw.gz`` (what image2disk streams) to
    ``directory``."""
    tools_present()
    version = kernel_version()
    staging = directory / "staging"
    staging.mkdir(parents=True, exist_ok=True)
    raw = directory / "installed.raw"
    _run("truncate", "-s", f"{DISK_SIZE_MIB}M", str(raw))
    table = (
        "label: dos\n"
        f"start={ROOT_START_MIB * MIB // SECTOR}, size={ROOT_SIZE_MIB * MIB // SECTOR}, type=83\n"
        f"start={BOOT_START_MIB * MIB // SECTOR}, size={BOOT_SIZE_MIB * MIB // SECTOR}, "
        "type=6, bootable\n"
    )
    subprocess.run(["sfdisk", "-q", str(raw)], input=table.encode(), check=True)
    with raw.open("r+b") as out:
        out.write(SYSLINUX_MBR.read_bytes()[:440])  # boot code only: the table stays
    root, boot = staging / "root.ext4", staging / "boot.vfat"
    _root_filesystem(root, staging)
    _boot_filesystem(boot, staging, version)
    _place(raw, root, ROOT_START_MIB)
    _place(raw, boot, BOOT_START_MIB)
    gzipped = directory / "installed.raw.gz"
    with raw.open("rb") as source, gzip.open(gzipped, "wb", compresslevel=6) as out:
        shutil.copyfileobj(source, out, MIB)
    shutil.rmtree(staging)
    return DiskImage(raw=raw, gzipped=gzipped)


# -- reading the provisioned disk back ---------------------------------------------------------


def partition_table(disk: Path) -> list[dict[str, object]]:
    """sfdisk's view of ``disk``'s partitions."""
    listed = subprocess.run(["sfdisk", "--json", str(disk)], capture_output=True, check=True)
    return list(json.loads(listed.stdout)["partitiontable"]["partitions"])


def read_file_from_partition(disk: Path, partition: dict[str, object], path: str) -> bytes:
    """A file of an ext4 partition, read by debugfs from the disk image at the partition's
    offset (e2fsprogs opens ``file?offset=N``)."""
    offset = int(str(partition["start"])) * SECTOR
    shown = subprocess.run(
        ["debugfs", "-R", f"cat {path}", f"{disk}?offset={offset}"],
        capture_output=True,
        check=True,
    )
    return shown.stdout


def stat_file_in_partition(disk: Path, partition: dict[str, object], path: str) -> str:
    offset = int(str(partition["start"])) * SECTOR
    shown = subprocess.run(
        ["debugfs", "-R", f"stat {path}", f"{disk}?offset={offset}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout

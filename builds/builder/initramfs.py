"""The initramfs writer: cpio newc through libarchive, compressed while it streams to disk."""

from __future__ import annotations

import ctypes
import posixpath
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import libarchive
from libarchive import ffi
from libarchive.entry import ArchiveEntry, FileType

COMPRESSIONS = {"zstd": "zstd", "gzip": "gzip"}

# libarchive-c sets a link through archive_entry_update_link_utf8, which libarchive reads as a
# hardlink unless the entry is already marked a symlink: set symlinks through the C API directly.
_set_symlink = ffi.libarchive.archive_entry_copy_symlink
_set_symlink.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
_set_symlink.restype = None
_set_ino = ffi.libarchive.archive_entry_set_ino64
_set_ino.argtypes = [ctypes.c_void_p, ctypes.c_int64]
_set_ino.restype = None
_set_nlink = ffi.libarchive.archive_entry_set_nlink
_set_nlink.argtypes = [ctypes.c_void_p, ctypes.c_uint]
_set_nlink.restype = None


class CpioWriter:
    """Writes entries in order; creates missing parent directories so the kernel's unpacker
    (which never creates parents) always finds them."""

    def __init__(self, archive_p: ctypes.c_void_p):
        self._archive = archive_p
        self._next_ino = 1
        self.directories: set[str] = {""}

    def _write(
        self,
        path: str,
        filetype: int,
        *,
        mode: int,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        size: int = 0,
        chunks: Iterable[bytes] = (),
        symlink: str | None = None,
        rdev: tuple[int, int] | None = None,
        ino: int | None = None,
        nlink: int = 1,
    ) -> None:
        entry = ArchiveEntry(header_codec="utf-8")
        entry.pathname = path
        entry.filetype = filetype
        entry.perm = mode & 0o7777
        entry.uid = uid
        entry.gid = gid
        entry.mtime = mtime
        entry.size = size
        if symlink is not None:
            _set_symlink(entry._entry_p, symlink.encode())
        if rdev is not None:
            entry.rdevmajor, entry.rdevminor = rdev
        if ino is None:
            ino = self.new_ino()
        _set_ino(entry._entry_p, ino)
        _set_nlink(entry._entry_p, nlink)
        ffi.write_header(self._archive, entry._entry_p)
        for chunk in chunks:
            if chunk:
                ffi.write_data(self._archive, chunk, len(chunk))
        ffi.write_finish_entry(self._archive)

    def new_ino(self) -> int:
        self._next_ino += 1
        return self._next_ino

    def parents(self, path: str) -> None:
        parent = posixpath.dirname(path)
        if parent in self.directories:
            return
        self.parents(parent)
        self.directory(parent, mode=0o755)

    def directory(
        self, path: str, *, mode: int = 0o755, uid: int = 0, gid: int = 0, mtime: int = 0
    ):
        self.parents(path)
        self._write(path, FileType.DIRECTORY, mode=mode, uid=uid, gid=gid, mtime=mtime)
        self.directories.add(path)

    def file(
        self,
        path: str,
        chunks: Iterable[bytes],
        size: int,
        *,
        mode: int = 0o644,
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
        ino: int | None = None,
        nlink: int = 1,
    ) -> None:
        self.parents(path)
        self._write(
            path,
            FileType.REGULAR_FILE,
            mode=mode,
            uid=uid,
            gid=gid,
            mtime=mtime,
            size=size,
            chunks=chunks,
            ino=ino,
            nlink=nlink,
        )

    def symlink(self, path: str, target: str, *, uid: int = 0, gid: int = 0, mtime: int = 0):
        self.parents(path)
        self._write(
            path,
            FileType.SYMBOLINK_LINK,
            mode=0o777,
            uid=uid,
            gid=gid,
            mtime=mtime,
            size=len(target.encode()),
            symlink=target,
        )

    def special(
        self,
        path: str,
        filetype: int,
        *,
        mode: int,
        rdev: tuple[int, int] = (0, 0),
        uid: int = 0,
        gid: int = 0,
        mtime: int = 0,
    ) -> None:
        """Character and block devices, fifos and sockets."""
        self.parents(path)
        self._write(path, filetype, mode=mode, rdev=rdev, uid=uid, gid=gid, mtime=mtime)


@contextmanager
def open_initramfs(
    path: Path, compression: str, *, prefix: Path | None = None
) -> Iterator[CpioWriter]:
    """``prefix`` (a CPU microcode cpio) goes first and uncompressed: the kernel looks for
    early microcode at the very start of the initramfs, before the compressed archive."""
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {sorted(COMPRESSIONS)}, not {compression!r}")
    with path.open("wb") as output:
        if prefix is not None:
            with prefix.open("rb") as microcode:
                shutil.copyfileobj(microcode, output)
            output.flush()
        with libarchive.fd_writer(
            output.fileno(), "cpio_newc", COMPRESSIONS[compression]
        ) as archive:
            writer = CpioWriter(archive._pointer)
            # Without /dev/console the kernel starts init with no stdin/stdout/stderr.
            writer.directory("dev", mode=0o755)
            writer.special("dev/console", FileType.CHAR_DEVICE, mode=0o600, rdev=(5, 1))
            yield writer

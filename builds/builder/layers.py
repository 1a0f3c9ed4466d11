"""Layer flattening without extraction: index the layer stack, then stream the winners.

Pass one reads only headers and works out which (layer, entry) supplies each final path, after
whiteouts (``.wh.name``), opaque directories (``.wh..wh..opq``) and replacements. Pass two
re-reads the layers and copies the winning entries straight into the cpio, file data block by
block: memory grows with the number of paths, never with file sizes.
"""

from __future__ import annotations

import posixpath
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import libarchive
from libarchive.entry import ArchiveEntry, FileType

from builds.builder.initramfs import CpioWriter

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


class Cancelled(Exception):
    pass


def normalise(name: str) -> str:
    name = posixpath.normpath("/" + name).lstrip("/")
    return "" if name == "." else name


@dataclass
class StackIndex:
    """Final path → (layer number, entry number within the layer)."""

    winners: dict[str, tuple[int, int]] = field(default_factory=dict)
    directories: set[str] = field(default_factory=set)
    # (layer, path) of files that hardlinks point at, with how many names they end up with.
    link_counts: dict[tuple[int, str], int] = field(default_factory=dict)


def _descendants(winners: dict[str, tuple[int, int]], prefixes: set[str], below: int) -> list[str]:
    if not prefixes:
        return []
    return [
        path
        for path, (layer, _) in winners.items()
        if layer < below and any(path.startswith(prefix) for prefix in prefixes)
    ]


def index_stack(
    layers: Sequence[Path], check_cancel: Callable[[], None] = lambda: None
) -> StackIndex:
    index = StackIndex()
    for number, layer in enumerate(layers):
        check_cancel()
        entries: list[tuple[str, bool]] = []
        removed: set[str] = set()
        removed_trees: set[str] = set()
        hardlinks: list[str] = []
        with libarchive.file_reader(str(layer)) as archive:
            for entry in archive:
                path = normalise(entry.pathname)
                base = posixpath.basename(path)
                parent = posixpath.dirname(path)
                if base == OPAQUE:
                    removed_trees.add(f"{parent}/" if parent else "")
                elif base.startswith(WHITEOUT):
                    target = posixpath.join(parent, base[len(WHITEOUT) :])
                    removed.add(target)
                    removed_trees.add(f"{target}/")
                elif path:
                    entries.append((path, entry.isdir))
                    if entry.islnk:
                        hardlinks.append(normalise(entry.linkpath))
        # A whiteout or opaque marker hides lower layers only, never its own layer's entries.
        for path in removed:
            if path in index.winners and index.winners[path][0] < number:
                del index.winners[path]
                index.directories.discard(path)
        # A non-directory that replaces a lower directory hides that directory's contents too.
        for path, is_dir in entries:
            if not is_dir and path in index.directories:
                removed_trees.add(f"{path}/")
        for path in _descendants(index.winners, removed_trees, number):
            del index.winners[path]
            index.directories.discard(path)
        for ordinal, (path, is_dir) in enumerate(entries):
            index.winners[path] = (number, ordinal)
            if is_dir:
                index.directories.add(path)
            else:
                index.directories.discard(path)
        for target in hardlinks:
            key = (number, target)
            index.link_counts[key] = index.link_counts.get(key, 1) + 1
    return index


def stream_stack(
    layers: Sequence[Path],
    index: StackIndex,
    writer: CpioWriter,
    *,
    prefix: str = "",
    include: Callable[[str], bool] = lambda path: True,
    check_cancel: Callable[[], None] = lambda: None,
) -> int:
    """Copy the flattened stack into the cpio under ``prefix``; return the entries written."""
    written = 0
    for number, layer in enumerate(layers):
        check_cancel()
        inodes: dict[str, int] = {}
        ordinal = -1
        with libarchive.file_reader(str(layer)) as archive:
            for entry in archive:
                path = normalise(entry.pathname)
                base = posixpath.basename(path)
                if not path or base.startswith(WHITEOUT):
                    continue
                ordinal += 1
                winner = index.winners.get(path)
                if not include(path):
                    continue
                if entry.isdir:
                    # Directories are written wherever they appear while they survive, so a
                    # lower layer's children always find their parent in the archive.
                    if path in index.directories:
                        _copy_directory(writer, prefix + path, entry)
                        written += 1
                    continue
                if winner != (number, ordinal):
                    continue
                if ordinal % 256 == 0:
                    check_cancel()
                _copy(
                    writer,
                    prefix + path,
                    entry,
                    index.link_counts.get((number, path), 1),
                    inodes,
                    prefix,
                )
                written += 1
    return written


def _copy_directory(writer: CpioWriter, path: str, entry: ArchiveEntry) -> None:
    writer.directory(
        path, mode=entry.perm, uid=entry.uid, gid=entry.gid, mtime=int(entry.mtime or 0)
    )


def _copy(
    writer: CpioWriter,
    path: str,
    entry: ArchiveEntry,
    nlink: int,
    inodes: dict[str, int],
    prefix: str,
) -> None:
    owner = {"uid": entry.uid, "gid": entry.gid, "mtime": int(entry.mtime or 0)}
    if entry.issym:
        writer.symlink(path, entry.linkpath, **owner)
    elif entry.islnk:
        # newc has no link entries: a hardlink is a second name with the same inode number,
        # size 0 and nlink > 1; the kernel links it to the first name it saw with that inode.
        target = prefix + normalise(entry.linkpath)
        ino = inodes.get(target)
        if ino is None:
            return  # its target did not survive flattening: nothing to link to
        writer.file(path, (), 0, mode=entry.perm, ino=ino, nlink=2, **owner)
    elif entry.isreg:
        ino = writer.new_ino()
        inodes[path] = ino
        writer.file(
            path,
            entry.get_blocks(),
            entry.size,
            mode=entry.perm,
            ino=ino,
            nlink=nlink,
            **owner,
        )
    elif entry.ischr or entry.isblk:
        kind = FileType.CHAR_DEVICE if entry.ischr else FileType.BLOCK_DEVICE
        rdev = (entry.rdevmajor, entry.rdevminor)
        writer.special(path, kind, mode=entry.perm, rdev=rdev, **owner)
    elif entry.isfifo:
        writer.special(path, FileType.NAMED_PIPE, mode=entry.perm, **owner)


def extract_file(layers: Sequence[Path], index: StackIndex, wanted: str, destination: Path) -> int:
    """Write the flattened stack's regular file ``wanted`` to ``destination``; return its size."""
    winner = index.winners.get(wanted)
    if winner is None:
        raise FileNotFoundError(wanted)
    number, ordinal = winner
    with libarchive.file_reader(str(layers[number])) as archive:
        position = -1
        for entry in archive:
            path = normalise(entry.pathname)
            if not path or posixpath.basename(path).startswith(WHITEOUT):
                continue
            position += 1
            if position != ordinal:
                continue
            if entry.issym or entry.islnk:
                target = normalise(posixpath.join(posixpath.dirname(path), entry.linkpath))
                if entry.islnk:
                    target = normalise(entry.linkpath)
                return extract_file(layers, index, target, destination)
            size = 0
            with destination.open("wb") as out:
                for block in entry.get_blocks():
                    out.write(block)
                    size += len(block)
            return size
    raise FileNotFoundError(wanted)

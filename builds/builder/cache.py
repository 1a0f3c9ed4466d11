"""Content-addressed blob cache: one file per digest, written only after its digest checked out."""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
import time
from collections.abc import Iterable
from pathlib import Path

STALE_PARTIAL_SECONDS = 3600


class DigestMismatch(Exception):
    pass


class BlobCache:
    def __init__(self, root: Path):
        self.root = root
        blobs = root / "blobs" / "sha256"
        blobs.mkdir(parents=True, exist_ok=True)
        # Downloads cut off by a killed build; a live download touches its file every chunk.
        stale = time.time() - STALE_PARTIAL_SECONDS
        for partial in blobs.glob(".partial-*"):
            with contextlib.suppress(FileNotFoundError):
                if partial.stat().st_mtime < stale:
                    partial.unlink()

    def path(self, digest: str) -> Path:
        algorithm, _, hexdigest = digest.partition(":")
        if algorithm != "sha256" or len(hexdigest) != 64:
            raise ValueError(f"unsupported digest {digest!r} (sha256 only)")
        return self.root / "blobs" / "sha256" / hexdigest

    def has(self, digest: str) -> bool:
        return self.path(digest).is_file()

    def store(self, digest: str, chunks: Iterable[bytes]) -> int:
        """Stream chunks to a temporary file, verify, then rename into place atomically.

        Parallel builds sharing a cache may fetch the same blob: the rename makes the last one
        win with identical content, and readers never see a partial file.
        """
        target = self.path(digest)
        hasher = hashlib.sha256()
        size = 0
        fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
        try:
            with os.fdopen(fd, "wb") as out:
                for chunk in chunks:
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            actual = "sha256:" + hasher.hexdigest()
            if actual != digest:
                raise DigestMismatch(f"blob {digest} arrived with digest {actual}")
            os.replace(temporary, target)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise
        return size

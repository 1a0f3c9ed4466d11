"""Serving files with HTTP range requests (RFC 9110 §14), streamed in chunks.

- No ``Range``: 200 with the whole file.
- One satisfiable range (``bytes=0-99``, ``bytes=100-``, ``bytes=-100``): 206 with
  ``Content-Range``; an end past the file is clipped, a suffix longer than the file is the
  whole file.
- A range that starts at or past the end (or ``bytes=-0``, or any range of an empty file):
  416 with ``Content-Range: bytes */<size>``.
- Several ranges, a malformed header, another unit, or an ``If-Range`` that no longer matches:
  the header is ignored and the whole file is sent with 200 (the RFC allows a server to ignore
  Range; multipart/byteranges answers are not worth their complexity for boot files).
"""

from __future__ import annotations

import asyncio
import contextlib
import mmap
import os
import re
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any, Protocol

from django.core.handlers.asgi import ASGIRequest
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase, StreamingHttpResponse
from django.utils.http import http_date

# A multiple of the page size (each chunk of a local file is a mapping of its own). A mebibyte
# rather than 256 KiB: the per-chunk Python (a thread hop, the server's send) is a quarter.
CHUNK = 1024 * 1024
_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class Unsatisfiable(Exception):
    pass


def parse_range(header: str, size: int) -> tuple[int, int] | None:
    """``(start, end)`` inclusive for one satisfiable range; None to send the whole file;
    raises Unsatisfiable for a single range the file cannot satisfy."""
    if "," in header:
        return None
    match = _RANGE.match(header)
    if match is None:
        return None
    first, last = match.groups()
    if first == "" and last == "":
        return None
    if first == "":
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise Unsatisfiable
        return max(size - suffix, 0), size - 1
    start = int(first)
    end = int(last) if last != "" else size - 1
    if last != "" and end < start:
        return None  # an invalid range-spec: ignore the header
    if start >= size:
        raise Unsatisfiable
    return start, min(end, size - 1)


# A chunk of a body: bytes, or a view of a mapped file (a server that takes any buffer sends it
# without a copy; Django's handlers copy it into bytes).
Chunk = bytes | memoryview


class ArtifactChanged(Exception):
    """A file shrank while it was being sent (artifacts are written once, under a new build's
    folder: only a hand on the disk does this). The stream stops; the client sees a short
    body rather than bytes that are not the file's."""


class ByteSource(Protocol):
    """A file to serve: its size and time, and its bytes from an offset, in chunks."""

    size: int
    modified: float  # seconds since the epoch

    def chunks(self, start: int, length: int) -> Iterator[Chunk]:
        """Called before the response is returned: a source that must ask another server
        asks here, so a missing file is still a 404 rather than a broken stream."""
        ...


class LocalFile:
    def __init__(self, path: Path):
        try:
            stat = os.stat(path)
        except FileNotFoundError as exc:
            raise Http404("The artifact's file is missing.") from exc
        self.path = path
        self.size = stat.st_size
        self.modified = stat.st_mtime

    def chunks(self, start: int, length: int) -> Iterator[Chunk]:
        with self.path.open("rb") as handle:
            yield from mapped_range(handle.fileno(), start, length)


def mapped_range(fd: int, start: int, length: int) -> Iterator[memoryview]:
    """``length`` bytes of the open file ``fd`` from ``start``, each chunk a view of a mapping
    of its own. Read and then written, a download's bytes were copied twice in the web process
    (from the page cache, then into the socket); a mapped chunk is copied once, by the kernel,
    from the page cache into the socket: streamed downloads went from 0.73 to ~1.0 x nginx's
    sendfile (`benchmarks/netboot.py --parts downloads`). A mapping lives as long as its view:
    until the server has sent it (nothing closes it early under a send in progress), so at
    most a chunk or two per download is mapped."""
    end = start + length
    position = start
    while position < end:
        if (size := os.fstat(fd).st_size) < end:  # mapping past the end would raise SIGBUS
            raise ArtifactChanged(f"the file shrank to {size} bytes while {end} were being sent")
        offset = position - position % mmap.ALLOCATIONGRANULARITY
        chunk_end = min(offset + CHUNK, end)
        mapping = mmap.mmap(fd, chunk_end - offset, access=mmap.ACCESS_READ, offset=offset)
        # Read from the disk ahead of the send if it is not cached, without mapping the pages
        # yet (mapped in the kernel's copy: MAP_POPULATE here cost a tenth of the throughput).
        mapping.madvise(mmap.MADV_WILLNEED)
        yield memoryview(mapping)[position - offset :]
        position = chunk_end


def read_range(handle: Any, start: int, length: int) -> Iterator[bytes]:
    """``length`` bytes of an open binary file (a local one, or a storage's File) from
    ``start``, CHUNK at a time (fewer if it ends)."""
    handle.seek(start)
    remaining = length
    while remaining > 0:
        data = handle.read(min(CHUNK, remaining))
        if not data:
            break
        remaining -= len(data)
        yield data


async def _chunks_async(chunks: Iterator[Chunk]) -> AsyncIterator[Chunk]:
    """The same chunks for an ASGI server. Django consumes a synchronous iterator there by
    reading it whole into memory first (``sync_to_async(list)``): 50 machines fetching a
    32 MiB initramfs held 3.5 GiB. Each chunk is read in a thread so a slow disk (or a slow
    object store) does not stall the event loop."""
    try:
        while (data := await asyncio.to_thread(next, chunks, None)) is not None:
            yield data
    finally:
        close = getattr(chunks, "close", None)
        # Cancelled while a thread still reads it (ValueError): it goes with that thread.
        if close is not None:
            with contextlib.suppress(ValueError):
                close()


def ranged_response(
    request: HttpRequest,
    source: ByteSource,
    *,
    etag: str = "",
    content_type: str = "application/octet-stream",
    filename: str = "",
) -> HttpResponseBase:
    size = source.size
    headers = {
        "Accept-Ranges": "bytes",
        "Last-Modified": http_date(source.modified),
        "Content-Type": content_type,
    }
    if etag:
        headers["ETag"] = f'"{etag}"'
    if filename:
        headers["Content-Disposition"] = f'attachment; filename="{filename}"'
    header = request.headers.get("Range", "")
    if_range = request.headers.get("If-Range", "").strip()
    if header and if_range and if_range not in (headers.get("ETag"), headers["Last-Modified"]):
        header = ""
    start, end, status = 0, size - 1, 200
    if header:
        try:
            chosen = parse_range(header, size)
        except Unsatisfiable:
            response = HttpResponse(status=416, headers=headers)
            response["Content-Range"] = f"bytes */{size}"
            return response
        if chosen is not None:
            start, end = chosen
            status = 206
            headers["Content-Range"] = f"bytes {start}-{end}/{size}"
    length = end - start + 1 if size else 0
    headers["Content-Length"] = str(length)
    if request.method == "HEAD":
        return HttpResponse(status=status, headers=headers)
    chunks = source.chunks(start, length)
    body: Iterator[Chunk] | AsyncIterator[Chunk] = (
        _chunks_async(chunks) if isinstance(request, ASGIRequest) else chunks
    )
    return BufferStreamingResponse(body, status=status, headers=headers)


class BufferStreamingResponse(StreamingHttpResponse):
    """A stream whose chunks may be views of a mapped file. Django's handlers copy each into
    bytes (``streaming_content``); the web processes' own path for downloads
    (rackpilot/core/lean_http.py) sends ``buffers``, the chunks as they are."""

    def __init__(self, body: Iterator[Chunk] | AsyncIterator[Chunk], **kwargs: Any):
        super().__init__(body, **kwargs)
        self.buffers = body  # the same iterator: read one way or the other, once

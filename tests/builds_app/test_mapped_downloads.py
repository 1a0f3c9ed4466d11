"""Local artifacts sent as views of mapped chunks (builds/ranges.py ``mapped_range``): the
bytes are the file's for any range, a view outlives the file's handle, a file that shrinks stops
the stream, and both web servers Rackpilot runs under send the mapped views whole (uvicorn takes
the views as they are, daphne gets bytes)."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from builds.ranges import CHUNK, ArtifactChanged, LocalFile, mapped_range
from rackpilot.webserver import web_command
from tests.builds_app.conftest import queue_one, succeed
from tests.live_server import AsgiLiveServer, server_environment

SIZE = 2 * CHUNK + 500


@pytest.fixture
def data_file(tmp_path: Path) -> tuple[Path, bytes]:
    data = hashlib.shake_256(b"rackpilot").digest(SIZE)
    path = tmp_path / "initramfs"
    path.write_bytes(data)
    return path, data


@pytest.mark.parametrize(
    ("start", "length"),
    [
        (0, SIZE),  # the whole file: two full chunks and a short one
        (CHUNK - 10, 30),  # across a chunk's end
        (4097, SIZE - 4097),  # from an offset that is not on a page
        (SIZE - 1, 1),  # the last byte
        (CHUNK, CHUNK),  # exactly the second chunk
    ],
)
def test_mapped_chunks_are_the_files_bytes(data_file: tuple[Path, bytes], start, length):
    path, data = data_file
    chunks = list(LocalFile(path).chunks(start, length))
    assert all(isinstance(chunk, memoryview) for chunk in chunks)
    assert all(0 < len(chunk) <= CHUNK for chunk in chunks)
    assert b"".join(chunks) == data[start : start + length]


def test_a_view_outlives_the_files_handle_and_name(data_file: tuple[Path, bytes]):
    path, data = data_file
    chunks = list(LocalFile(path).chunks(0, SIZE))  # the generator has closed the file
    path.unlink()  # an artifact pruned while a download is under way
    assert b"".join(chunks) == data


def test_a_file_that_shrinks_stops_the_stream(data_file: tuple[Path, bytes]):
    path, _ = data_file
    with path.open("rb") as handle:
        chunks: Iterator[memoryview] = mapped_range(handle.fileno(), 0, SIZE)
        first = next(chunks)
        assert len(first) == CHUNK
        first.release()  # never read: its pages are past the new end
        with path.open("r+b") as writer:
            writer.truncate(CHUNK // 2)
        with pytest.raises(ArtifactChanged, match=f"shrank to {CHUNK // 2} bytes"):
            next(chunks)


@pytest.fixture
def served_artifact(recipe: Any, settings: Any) -> tuple[dict[str, str], bytes]:
    """A default build's initramfs (several chunks) and the environment that serves it."""
    build = succeed(queue_one(recipe), size=3 * CHUNK + 123)
    artifact = build.artifacts.get(name="initramfs-x86_64")
    env = {
        **server_environment(),
        "BUILD_ARTIFACTS_DIR": str(Path(settings.BUILD_ARTIFACTS_DIR).resolve()),
        "NETBOOT_ARTIFACT_RATE_LIMIT": "0",
    }
    return env, artifact.full_path.read_bytes()


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("server_name", ["uvicorn", "daphne"])
def test_the_web_servers_send_the_mapped_file_whole_and_by_range(served_artifact, server_name):
    env, data = served_artifact
    server = AsgiLiveServer(env)
    if server_name == "uvicorn":  # the web tier's own command (rackpilot/webserver.py)
        server.command = web_command(server="uvicorn", port=server.port, workers=1)
    try:
        server.start()
        url = f"{server.url}/artifacts/x86_64/initramfs-x86_64"
        whole = requests.get(url, timeout=30)
        assert whole.status_code == 200, server.output()
        assert whole.content == data
        start = CHUNK - 7
        part = requests.get(url, headers={"Range": f"bytes={start}-{2 * CHUNK + 6}"}, timeout=30)
        assert part.status_code == 206, server.output()
        assert part.content == data[start : 2 * CHUNK + 7]
    finally:
        server.stop()
        server.close()


def test_only_uvicorns_send_is_handed_the_views():
    """uvicorn's sends write any buffer; anything else is given bytes (the ASGI specification's
    type), so a server that wants bytes never sees a view."""
    from uvicorn.protocols.http import h11_impl, httptools_impl

    from rackpilot.core.lean_http import _sends_any_buffer

    async def another_servers_send(message: dict[str, Any]) -> None:
        return None

    assert _sends_any_buffer(httptools_impl.RequestResponseCycle.send)
    assert _sends_any_buffer(h11_impl.RequestResponseCycle.send)
    assert not _sends_any_buffer(another_servers_send)

"""Artifact downloads with HTTP Range, over the API (signed in) and the public netboot URL.

Documented behaviour (builds/ranges.py): one range → 206; unsatisfiable → 416 with
``bytes */size``; several ranges or a malformed header → the whole file with 200.
"""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient, Client

from builds.models import Build
from builds.ranges import CHUNK
from tests.builds_app.conftest import queue_one, succeed

pytestmark = pytest.mark.django_db
SIZE = 1000


@pytest.fixture
def build(recipe) -> Build:
    return succeed(queue_one(recipe), size=SIZE)


def _content(response) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _expected(build: Build, name: str = "initramfs-x86_64") -> bytes:
    return build.artifacts.get(name=name).full_path.read_bytes()


def _get(api, build, range_header: str | None = None, name: str = "initramfs-x86_64"):
    headers = {"HTTP_RANGE": range_header} if range_header else {}
    return api.get(f"/api/v1/builds/{build.pk}/artifacts/{name}", **headers)


def test_full_download(api, build):
    response = _get(api, build)
    assert response.status_code == 200
    assert response["Accept-Ranges"] == "bytes"
    assert response["Content-Length"] == str(SIZE)
    assert response["ETag"] == f'"{build.artifacts.get(name="initramfs-x86_64").sha256}"'
    assert 'filename="initramfs-x86_64"' in response["Content-Disposition"]
    assert _content(response) == _expected(build)


@pytest.mark.parametrize(
    ("header", "start", "end"),
    [
        ("bytes=0-99", 0, 99),
        ("bytes=900-", 900, 999),
        ("bytes=-100", 900, 999),
        ("bytes=-5000", 0, 999),  # a suffix beyond the size is the whole file
        ("bytes=990-2000", 990, 999),  # an end past the file is clipped
        ("bytes=999-999", 999, 999),
    ],
)
def test_single_ranges_are_206(api, build, header, start, end):
    response = _get(api, build, header)
    assert response.status_code == 206
    assert response["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert response["Content-Length"] == str(end - start + 1)
    assert _content(response) == _expected(build)[start : end + 1]


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=5000-6000", "bytes=-0"])
def test_unsatisfiable_ranges_are_416(api, build, header):
    response = _get(api, build, header)
    assert response.status_code == 416
    assert response["Content-Range"] == f"bytes */{SIZE}"


@pytest.mark.parametrize("header", ["bytes=0-9,20-29", "bytes=50-10", "items=0-9", "bytes=x-y"])
def test_multiple_or_malformed_ranges_get_the_whole_file(api, build, header):
    response = _get(api, build, header)
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert _content(response) == _expected(build)


def test_if_range_with_an_old_etag_gets_the_whole_file(api, build):
    response = api.get(
        f"/api/v1/builds/{build.pk}/artifacts/vmlinuz-x86_64",
        HTTP_RANGE="bytes=0-9",
        HTTP_IF_RANGE='"not-the-sha"',
    )
    assert response.status_code == 200


def test_unknown_artifact_is_404(api, build):
    assert _get(api, build, name="nope").status_code == 404


def test_api_download_needs_a_signed_in_user(anon_api, build):
    assert _get(anon_api, build).status_code in (401, 403)


def test_public_url_serves_the_default_build_with_ranges(build):
    client = Client()
    whole = client.get("/artifacts/x86_64/vmlinuz-x86_64")
    assert whole.status_code == 200
    assert _content(whole) == _expected(build, "vmlinuz-x86_64")
    assert "Content-Disposition" not in whole
    part = client.get("/artifacts/x86_64/vmlinuz-x86_64", HTTP_RANGE="bytes=-100")
    assert part.status_code == 206
    assert _content(part) == _expected(build, "vmlinuz-x86_64")[-100:]
    head = client.head("/artifacts/x86_64/vmlinuz-x86_64")
    assert head.status_code == 200
    assert head["Content-Length"] == str(SIZE)
    assert client.get("/artifacts/aarch64/vmlinuz-aarch64").status_code == 404


def test_public_url_follows_the_default(recipe, build):
    newer = succeed(queue_one(recipe), size=SIZE + 1)
    client = Client()
    assert client.get("/artifacts/x86_64/vmlinuz-x86_64")["Content-Length"] == str(SIZE)
    from builds.services.lifecycle import build_set_default
    from tests.builds_app.conftest import SYSTEM

    build_set_default(build=newer, actor=SYSTEM)
    assert client.get("/artifacts/x86_64/vmlinuz-x86_64")["Content-Length"] == str(SIZE + 1)


def test_api_head_gives_the_length_without_a_body(api, build):
    response = api.head(f"/api/v1/builds/{build.pk}/artifacts/vmlinuz-x86_64")
    assert response.status_code == 200
    assert response["Content-Length"] == str(SIZE)
    assert response.content == b""


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_asgi_server_streams_the_file_in_chunks_instead_of_reading_it_whole(recipe):
    # Large enough for several chunks, so the async iterator's seek and length both count.
    size = 3 * CHUNK + 123
    build = await database_sync_to_async(lambda: succeed(queue_one(recipe), size=size))()
    expected = await database_sync_to_async(_expected)(build)
    response = await AsyncClient().get(
        "/artifacts/x86_64/initramfs-x86_64", headers={"Range": f"bytes=100-{size - 1}"}
    )
    assert response.status_code == 206
    assert response.is_async, "a synchronous iterator is read whole before the first byte"
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) == 4
    assert b"".join(chunks) == expected[100:]

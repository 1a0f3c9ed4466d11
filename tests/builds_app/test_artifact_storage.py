"""Build artifacts in an S3 bucket (moto's server on loopback): a worker's build uploads its
files, and any web process serves them, ranges included, without a local copy."""

from __future__ import annotations

import hashlib
import io
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import AsyncClient, Client

from builds.models import Build
from builds.ranges import CHUNK
from builds.services.runner import build_output_dir
from builds.states import BuildState
from builds.tasks import run_build
from tests.builds_app.artifact_servers import PREFIX, S3Server, s3_server, s3_storage
from tests.builds_app.conftest import SYSTEM, queue_one, write_artifacts

__all__ = ["s3_server", "s3_storage"]  # fixtures

pytestmark = pytest.mark.django_db
SIZE = 3 * CHUNK + 123  # several chunks, the last one short
NAMES = ("initramfs-x86_64", "vmlinuz-x86_64")


def _content(response: Any) -> bytes:
    return b"".join(response.streaming_content) if response.streaming else response.content


def _built(recipe: Any, fake_builder: Any, *, size: int = SIZE) -> tuple[Build, dict[str, bytes]]:
    """A build run to its end by the task, with real files written by the (fake) builder."""
    build = queue_one(recipe)
    written: dict[str, bytes] = {}

    def fake(recipe_text: str, *, arch: str, out_dir: Path, **kwargs: Any) -> SimpleNamespace:
        files = write_artifacts(out_dir, arch, size)
        written.update({f.name: Path(f.path).read_bytes() for f in files})
        return SimpleNamespace(artifacts=files, steps=[], cache_hits=0, downloaded_bytes=0)

    fake_builder(fake)
    assert run_build.run(build.pk) == BuildState.SUCCESS
    return Build.objects.get(pk=build.pk), written


def test_a_finished_build_is_uploaded_and_its_scratch_copy_removed(
    recipe, fake_builder, s3_storage: S3Server
):
    build, written = _built(recipe, fake_builder)
    assert s3_storage.keys() == [f"{PREFIX}/{build.pk}/{name}" for name in NAMES]
    for artifact in build.artifacts.all():
        assert artifact.path == f"{build.pk}/{artifact.name}"
        data = s3_storage.read(f"{PREFIX}/{artifact.path}")
        assert hashlib.sha256(data).hexdigest() == artifact.sha256
        assert data == written[artifact.name]
    assert build.is_default
    assert not build_output_dir(build.pk).exists()


def test_another_web_process_serves_the_files_with_ranges(
    recipe, fake_builder, s3_storage: S3Server, api
):
    build, written = _built(recipe, fake_builder)
    kernel = written["vmlinuz-x86_64"]
    # A second client with no file on its disk: everything comes from the bucket.
    other = Client()
    whole = other.get("/artifacts/x86_64/vmlinuz-x86_64")
    assert whole.status_code == 200
    assert whole["Content-Length"] == str(SIZE)
    body = _content(whole)
    assert hashlib.sha256(body).hexdigest() == build.artifacts.get(name="vmlinuz-x86_64").sha256
    assert body == kernel

    part = other.get("/artifacts/x86_64/vmlinuz-x86_64", HTTP_RANGE="bytes=100-199")
    assert part.status_code == 206
    assert part["Content-Range"] == f"bytes 100-199/{SIZE}"
    assert _content(part) == kernel[100:200]
    suffix = other.get("/artifacts/x86_64/vmlinuz-x86_64", HTTP_RANGE="bytes=-100")
    assert suffix.status_code == 206
    assert _content(suffix) == kernel[-100:]
    past = other.get("/artifacts/x86_64/vmlinuz-x86_64", HTTP_RANGE=f"bytes={SIZE}-")
    assert past.status_code == 416
    assert past["Content-Range"] == f"bytes */{SIZE}"
    head = other.head("/artifacts/x86_64/vmlinuz-x86_64")
    assert (head.status_code, head["Content-Length"], head.content) == (200, str(SIZE), b"")

    url = f"/api/v1/builds/{build.pk}/artifacts/initramfs-x86_64"
    full = api.get(url)
    assert full.status_code == 200
    assert 'filename="initramfs-x86_64"' in full["Content-Disposition"]
    assert _content(full) == written["initramfs-x86_64"]
    ranged = api.get(url, HTTP_RANGE=f"bytes={CHUNK - 10}-{CHUNK + 9}")
    assert ranged.status_code == 206
    assert _content(ranged) == written["initramfs-x86_64"][CHUNK - 10 : CHUNK + 10]


def test_a_file_missing_from_the_bucket_is_404(recipe, fake_builder, s3_storage: S3Server):
    build, _ = _built(recipe, fake_builder, size=100)
    s3_storage.client().delete_object(
        Bucket="rackpilot-artifacts", Key=f"{PREFIX}/{build.pk}/vmlinuz-x86_64"
    )
    assert Client().get("/artifacts/x86_64/vmlinuz-x86_64").status_code == 404


def test_a_result_that_cannot_be_uploaded_fails_the_build_and_leaves_no_object(
    recipe, fake_builder, s3_storage: S3Server
):
    build = queue_one(recipe)

    def half(recipe_text: str, *, arch: str, out_dir: Path, **kwargs: Any) -> SimpleNamespace:
        files = write_artifacts(out_dir, arch, 100)
        Path(files[1].path).unlink()  # named in the result, gone from the disk
        return SimpleNamespace(artifacts=files, steps=[], cache_hits=0, downloaded_bytes=0)

    fake_builder(half)
    assert run_build.run(build.pk) == BuildState.FAILED
    build.refresh_from_db()
    assert build.error.startswith("could not store the result")
    assert not build.artifacts.exists()
    assert s3_storage.keys() == []
    assert not build_output_dir(build.pk).exists()


def test_an_imported_hookos_goes_to_the_bucket(s3_storage: S3Server):
    from tinkerbell.hookos import hookos_import

    kernel, initramfs = b"k" * 5000, b"i" * 7000
    build = hookos_import(
        actor=SYSTEM,
        arch="x86_64",
        kernel=io.BytesIO(kernel),
        initramfs=io.BytesIO(initramfs),
        name="release v0.10",
    )
    assert s3_storage.keys() == [
        f"{PREFIX}/{build.pk}/initramfs-x86_64",
        f"{PREFIX}/{build.pk}/vmlinuz-x86_64",
    ]
    assert not build_output_dir(build.pk).exists()
    response = Client().get("/artifacts/x86_64/initramfs-x86_64", HTTP_RANGE="bytes=6990-")
    assert response.status_code == 206
    assert _content(response) == initramfs[6990:]


def test_behind_a_proxy_a_get_is_handed_over_with_a_presigned_path(
    recipe, fake_builder, s3_storage: S3Server, settings
):
    build, _ = _built(recipe, fake_builder, size=100)
    settings.ARTIFACTS_ACCEL_REDIRECT = "/_artifacts"
    response = Client().get("/artifacts/x86_64/vmlinuz-x86_64", HTTP_RANGE="bytes=0-9")
    assert response.status_code == 200
    assert response.content == b""
    target = response["X-Accel-Redirect"]
    path, _, query = target.partition("?")
    assert path == f"/_artifacts/rackpilot-artifacts/{PREFIX}/{build.pk}/vmlinuz-x86_64"
    assert "X-Amz-Signature=" in query
    # HEAD is answered by Rackpilot: a presigned GET is no good for a HEAD.
    head = Client().head("/artifacts/x86_64/vmlinuz-x86_64")
    assert "X-Accel-Redirect" not in head
    assert head["Content-Length"] == "100"


def test_behind_a_proxy_the_local_storage_hands_over_the_key(recipe, settings):
    from tests.builds_app.conftest import succeed

    build = succeed(queue_one(recipe), size=100)
    settings.ARTIFACTS_ACCEL_REDIRECT = "/_artifacts"
    response = Client().get("/artifacts/x86_64/initramfs-x86_64")
    assert response["X-Accel-Redirect"] == f"/_artifacts/{build.pk}/initramfs-x86_64"
    assert response.content == b""


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_an_asgi_server_streams_from_the_bucket_in_chunks(
    recipe, fake_builder, s3_storage: S3Server
):
    build, written = await database_sync_to_async(lambda: _built(recipe, fake_builder))()
    response = await AsyncClient().get(
        "/artifacts/x86_64/initramfs-x86_64", headers={"Range": f"bytes=100-{SIZE - 1}"}
    )
    assert response.status_code == 206
    assert response.is_async
    chunks = [chunk async for chunk in response.streaming_content]
    assert len(chunks) == 4
    assert b"".join(chunks) == written["initramfs-x86_64"][100:]
    assert build.is_default

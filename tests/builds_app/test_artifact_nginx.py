"""nginx in front of a live Rackpilot, configured from docs/nginx-*.conf: Rackpilot checks a
download and answers with X-Accel-Redirect, nginx sends the bytes (and ranges) from the
artifacts folder or from the S3 bucket."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import requests

from builds.models import Build
from builds.services.runner import build_output_dir
from builds.states import BuildState
from builds.tasks import run_build
from tests.builds_app.artifact_servers import Nginx, S3Server, s3_server, s3_storage
from tests.builds_app.conftest import queue_one, succeed, write_artifacts
from tests.live_server import AsgiLiveServer, server_environment, signed_in_headers

__all__ = ["s3_server", "s3_storage"]  # fixtures

pytestmark = pytest.mark.django_db(transaction=True)
SIZE = 600_000


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Callable[..., tuple[AsgiLiveServer, Nginx]]]:
    """``start(extra_env, location_file, **placeholders)``: Rackpilot, then nginx before it."""
    started: list[Any] = []

    def start(
        extra_env: dict[str, str], location: str, **values: str
    ) -> tuple[AsgiLiveServer, Nginx]:
        server = AsgiLiveServer({**server_environment(), **extra_env})
        started.append(server)
        server.start()
        nginx = Nginx(
            tmp_path / "nginx",
            upstream=f"{server.host}:{server.port}",
            artifacts_location=location,
            **values,
        )
        started.append(nginx)
        nginx.start()
        return server, nginx

    yield start
    for thing in reversed(started):
        thing.stop()
        if isinstance(thing, AsgiLiveServer):
            thing.close()


def _check_downloads(server: AsgiLiveServer, nginx: Nginx, build: Build, user: Any) -> None:
    kernel = build.artifacts.get(name="vmlinuz-x86_64")
    # Rackpilot itself answers with the hand-over and no body...
    direct = requests.get(f"{server.url}/artifacts/x86_64/vmlinuz-x86_64", timeout=10)
    assert direct.status_code == 200
    assert direct.headers["X-Accel-Redirect"].startswith("/_artifacts/")
    assert direct.content == b""
    # ...and through nginx the client gets the file.
    whole = requests.get(f"{nginx.url}/artifacts/x86_64/vmlinuz-x86_64", timeout=10)
    assert whole.status_code == 200, nginx.log()
    assert "X-Accel-Redirect" not in whole.headers
    assert len(whole.content) == SIZE
    assert hashlib.sha256(whole.content).hexdigest() == kernel.sha256
    part = requests.get(
        f"{nginx.url}/artifacts/x86_64/vmlinuz-x86_64",
        headers={"Range": "bytes=1000-1999"},
        timeout=10,
    )
    assert part.status_code == 206, nginx.log()
    assert part.headers["Content-Range"] == f"bytes 1000-1999/{SIZE}"
    assert part.content == whole.content[1000:2000]
    # The API: signed in, checked by Rackpilot, sent by nginx; refused without a session.
    url = f"{nginx.url}/api/v1/builds/{build.pk}/artifacts/initramfs-x86_64"
    assert requests.get(url, timeout=10).status_code in (401, 403)
    headers = signed_in_headers(server, user)
    api = requests.get(url, headers={**headers, "Range": "bytes=-100"}, timeout=10)
    assert api.status_code == 206, nginx.log()
    initramfs = requests.get(url, headers=headers, timeout=10).content
    expected = build.artifacts.get(name="initramfs-x86_64").sha256
    assert hashlib.sha256(initramfs).hexdigest() == expected
    assert api.content == initramfs[-100:]


def test_nginx_sends_files_from_the_artifacts_folder(recipe, builder_user, settings, stack):
    build = succeed(queue_one(recipe), size=SIZE)
    artifacts = Path(settings.BUILD_ARTIFACTS_DIR).resolve()
    server, nginx = stack(
        {"BUILD_ARTIFACTS_DIR": str(artifacts), "ARTIFACTS_ACCEL_REDIRECT": "/_artifacts"},
        "nginx-artifacts-local.conf",
        RACKPILOT_ARTIFACTS_DIR=str(artifacts),
    )
    _check_downloads(server, nginx, build, builder_user)


def test_nginx_sends_files_from_the_bucket(
    recipe, builder_user, fake_builder, s3_storage: S3Server, stack
):
    build = queue_one(recipe)

    def fake(recipe_text: str, *, arch: str, out_dir: Path, **kwargs: Any) -> SimpleNamespace:
        files = write_artifacts(out_dir, arch, SIZE)
        return SimpleNamespace(artifacts=files, steps=[], cache_hits=0, downloaded_bytes=0)

    fake_builder(fake)
    assert run_build.run(build.pk) == BuildState.SUCCESS  # uploaded by the worker's runner
    assert not build_output_dir(build.pk).exists()
    server, nginx = stack(
        {**s3_storage.environment(), "ARTIFACTS_ACCEL_REDIRECT": "/_artifacts"},
        "nginx-artifacts-s3.conf",
        RACKPILOT_S3_ENDPOINT=s3_storage.endpoint,
    )
    _check_downloads(server, nginx, Build.objects.get(pk=build.pk), builder_user)

"""Artifact downloads through the ASGI application the web processes run: answered beside
Django's handler (rackpilot/core/lean_http.py), streamed chunk by chunk, ranges included, and
handed to nginx with X-Accel-Redirect when it is in front."""

from __future__ import annotations

import asyncio
from typing import Any

import psutil
import pytest

from builds.ranges import CHUNK
from tests.builds_app.conftest import queue_one, succeed
from tests.netboot.test_lean_script_path import asgi_exchange, asgi_get, watch_django

pytestmark = pytest.mark.django_db(transaction=True)
SIZE = 3 * CHUNK + 123  # several chunks, the last one short


@pytest.fixture
def initramfs(recipe: Any, settings: Any) -> tuple[Any, bytes]:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.NETBOOT_ARTIFACT_RATE_LIMIT = "0"  # the tests download from one address
    build = succeed(queue_one(recipe), size=SIZE)
    artifact = build.artifacts.get(name="initramfs-x86_64")
    return build, artifact.full_path.read_bytes()


def test_a_download_is_streamed_whole_and_by_range(
    initramfs: tuple[Any, bytes], monkeypatch: pytest.MonkeyPatch
):
    through_django = watch_django(monkeypatch)
    _, data = initramfs
    status, headers, body = asgi_get("/artifacts/x86_64/initramfs-x86_64")
    assert (status, len(body)) == (200, SIZE)
    assert body == data
    assert headers["content-length"] == str(SIZE)
    status, headers, body = asgi_get(
        "/artifacts/x86_64/initramfs-x86_64", headers={"Range": f"bytes={CHUNK - 10}-"}
    )
    assert status == 206 and body == data[CHUNK - 10 :]
    assert headers["content-range"] == f"bytes {CHUNK - 10}-{SIZE - 1}/{SIZE}"
    assert through_django == []
    # A HEAD, and an unknown name, are Django's (and answered as before).
    status, headers, body = asgi_get("/artifacts/x86_64/initramfs-x86_64", method="HEAD")
    assert (status, body, headers["content-length"]) == (200, b"", str(SIZE))
    assert through_django == ["/artifacts/x86_64/initramfs-x86_64"]
    assert asgi_get("/artifacts/x86_64/nope-x86_64")[0] == 404


def test_behind_nginx_the_file_is_handed_over(initramfs: tuple[Any, bytes], settings: Any):
    build, _ = initramfs
    settings.ARTIFACTS_ACCEL_REDIRECT = "/_artifacts"
    status, headers, body = asgi_get("/artifacts/x86_64/initramfs-x86_64")
    assert (status, body) == (200, b"")
    assert headers["x-accel-redirect"] == f"/_artifacts/{build.pk}/initramfs-x86_64"


def test_no_database_connection_is_left_open_by_downloads_at_once(
    initramfs: tuple[Any, bytes],
):
    from django.db import connection

    if connection.vendor != "postgresql":
        pytest.skip("counts the server's connections in pg_stat_activity")

    def open_connections() -> list[tuple[Any, ...]]:
        """This process's connections to the test database (servers other tests started
        share the database and open and close theirs at any time)."""
        ports = [
            socket.laddr.port
            for socket in psutil.Process().net_connections(kind="tcp")
            if socket.raddr and socket.raddr.port == int(connection.settings_dict["PORT"])
        ]
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pid, client_port, state, query FROM pg_stat_activity"
                " WHERE datname = current_database() AND client_port = ANY(%s)",
                [ports],
            )
            return cursor.fetchall()

    async def many() -> list[int]:
        # At once, so answers are read and closed in other threads than their views ran in.
        answers = await asyncio.gather(
            *(asgi_exchange("/artifacts/x86_64/initramfs-x86_64") for _ in range(6)),
            *(asgi_exchange("/artifacts/x86_64/vmlinuz-x86_64") for _ in range(6)),
        )
        return [status for status, _, _ in answers]

    before = open_connections()
    assert before, "the test's own connection is one of them"
    for _ in range(3):
        assert asyncio.run(many()) == [200] * 12
    after = open_connections()
    assert len(after) == len(before), after

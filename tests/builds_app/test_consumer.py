"""``/ws/builds/<id>/`` over the real Redis channel layer: snapshot, backlog, live frames."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from builds.models import Build
from builds.services import lifecycle
from builds.services import recipes as recipe_services
from rackpilot.routing import browser_urlpatterns
from tests.builds_app.conftest import RECIPE, SYSTEM
from tests.factories import UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _running_build_with_lines(count: int) -> tuple[Build, Any]:
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="hook", config=RECIPE, arches=["x86_64"]
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_progress(build_id=build.pk, percent=30, step="pull kernel")
    lifecycle.build_log(build_id=build.pk, lines=[f"line {n}" for n in range(1, count + 1)])
    return build, _watcher("watcher")


def _watcher(username: str) -> Any:
    """A user with the permission the build socket asks for."""
    user = UserFactory(username=username)
    user.user_permissions.add(
        Permission.objects.get(codename="view_build", content_type__app_label="builds")
    )
    return user


async def _browser(build_id: int, user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(URLRouter(browser_urlpatterns), f"/ws/builds/{build_id}/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _until(ws: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


async def test_anonymous_is_refused():
    communicator = WebsocketCommunicator(URLRouter(browser_urlpatterns), "/ws/builds/1/")
    communicator.scope["user"] = None
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4403


async def test_snapshot_backlog_then_live_frames():
    build, user = await database_sync_to_async(_running_build_with_lines)(3)
    ws = await _browser(build.pk, user)
    await ws.send_json_to({"type": "subscribe", "after_seq": 0})
    frames = await _until(ws, "backlog_done")
    snapshot = frames[0]
    assert snapshot["type"] == "snapshot"
    assert (snapshot["state"], snapshot["progress"], snapshot["step"]) == (
        "running",
        30,
        "pull kernel",
    )
    lines = [line for f in frames if f["type"] == "lines" for line in f["lines"]]
    assert [(x["seq"], x["text"]) for x in lines] == [(1, "line 1"), (2, "line 2"), (3, "line 3")]

    await database_sync_to_async(lifecycle.build_log)(build_id=build.pk, lines=["four"])
    live = await ws.receive_json_from(timeout=5)
    assert (live["type"], live["first_seq"], live["lines"][0]["text"]) == ("lines", 4, "four")

    await database_sync_to_async(lifecycle.build_progress)(
        build_id=build.pk, percent=60, step="cpio"
    )
    progress = await ws.receive_json_from(timeout=5)
    assert (progress["type"], progress["progress"], progress["step"]) == ("progress", 60, "cpio")

    await database_sync_to_async(lifecycle.build_fail)(
        build_id=build.pk, actor=SYSTEM, error="boom"
    )
    state = await ws.receive_json_from(timeout=5)
    assert (state["type"], state["state"], state["error"]) == ("state", "failed", "boom")
    await ws.disconnect()


async def test_resume_after_a_seq_and_fetch_a_gap():
    build, user = await database_sync_to_async(_running_build_with_lines)(2500)
    ws = await _browser(build.pk, user)
    await ws.send_json_to({"type": "subscribe", "after_seq": 2490})
    frames = await _until(ws, "backlog_done")
    lines = [line["seq"] for f in frames if f["type"] == "lines" for line in f["lines"]]
    assert lines == list(range(2491, 2501))

    await ws.send_json_to({"type": "fetch", "after_seq": 10, "until_seq": 12})
    gap = await ws.receive_json_from(timeout=5)
    assert [line["seq"] for line in gap["lines"]] == [11, 12]

    await ws.disconnect()

    # a socket subscribes once: the whole backlog again takes a new one
    ws = await _browser(build.pk, user)
    await ws.send_json_to({"type": "subscribe", "after_seq": 0})
    frames = await _until(ws, "backlog_done")
    sizes = [len(f["lines"]) for f in frames if f["type"] == "lines"]
    assert sizes == [1000, 1000, 500]  # the backlog comes in bounded frames
    await ws.disconnect()


async def test_unknown_build_closes():
    user = await database_sync_to_async(_watcher)("lost")
    ws = await _browser(987654, user)
    await ws.send_json_to({"type": "subscribe"})
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4404}
    await ws.disconnect()

"""Viewers are never left behind: frames the channel layer drops are noticed from the ``tip``
the socket sends every LOG_VIEWER_TIP_SECONDS, and fetched.

Frames are dropped on purpose here: the publish to the workflow's (or build's) group is
swallowed while the services store lines and change states, as a full channel layer would.
"""

from __future__ import annotations

import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

import rackpilot.core.events
from builds.services import lifecycle
from rackpilot.routing import browser_urlpatterns
from tests.builds_app.conftest import RECIPE, SYSTEM
from tests.factories import UserFactory
from tests.workflows.test_log_pipeline import _first, _setup, _until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
TIP = 0.3


@pytest.fixture(autouse=True)
def _fast_tips(settings: Any) -> None:
    settings.LOG_VIEWER_TIP_SECONDS = TIP


@pytest.fixture
def dropped(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every frame published from now on is lost (its group is recorded)."""
    lost: list[str] = []
    monkeypatch.setattr(rackpilot.core.events, "publish", lambda group, message: lost.append(group))
    return lost


async def _socket(path: str, user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(URLRouter(browser_urlpatterns), path)
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _next_tip(ws: WebsocketCommunicator) -> dict[str, Any]:
    started = time.monotonic()
    while True:
        frame = await ws.receive_json_from(timeout=TIP * 10)
        if frame["type"] == "tip":
            frame["after"] = time.monotonic() - started
            return frame


async def test_lost_last_lines_and_state_come_with_the_next_tip(dropped):
    agent, workflow, user = await database_sync_to_async(_setup)()
    action = await database_sync_to_async(_first)(workflow)
    await database_sync_to_async(agent.report)(action.pk, 1, "running")
    ws = await _socket(f"/ws/workflows/{workflow.pk}/", user)
    await ws.send_json_to({"type": "subscribe"})
    await _until(ws, "backlog_done")

    # the last lines of the action and its end: every frame of them is lost
    await database_sync_to_async(agent.logs)(action.pk, 1, 1, ["one", "two", "three"])
    await database_sync_to_async(agent.report)(action.pk, 1, "success", exit_code=0)
    assert dropped, "the services published and the frames were lost"

    tip = await _next_tip(ws)
    assert tip["after"] < TIP * 3
    first = next(a for a in tip["actions"] if a["id"] == action.pk)
    assert (first["state"], first["log_seq"]) == ("success", 3)
    # what a page does with it: fetch what it lacks
    await ws.send_json_to(
        {"type": "fetch", "action": action.pk, "attempt": 1, "after_seq": 0, "until_seq": 3}
    )
    fetched = await ws.receive_json_from(timeout=5)
    assert [line["text"] for line in fetched["lines"]] == ["one", "two", "three"]
    # nothing changed since: no tip repeats it
    assert await ws.receive_nothing(timeout=TIP * 2.5)
    await ws.disconnect()


async def test_tips_stop_one_interval_after_the_workflow_finished():
    from workflows.services.engine import workflow_cancel

    _agent, workflow, user = await database_sync_to_async(_setup)()
    ws = await _socket(f"/ws/workflows/{workflow.pk}/", user)
    await ws.send_json_to({"type": "subscribe"})
    await _until(ws, "backlog_done")
    await database_sync_to_async(workflow_cancel)(workflow=workflow, actor=SYSTEM)
    frames = []
    while not await ws.receive_nothing(timeout=TIP * 3):
        frames.append(await ws.receive_json_from())
    tips = [frame for frame in frames if frame["type"] == "tip"]
    assert [tip["workflow"]["state"] for tip in tips] == ["cancelled"]
    # finished and unchanged: the socket asks the database no more
    assert await ws.receive_nothing(timeout=TIP * 3)
    await ws.disconnect()


def _build_viewer() -> tuple[Any, Any]:
    from builds.services import recipes

    recipe = recipes.recipe_create(actor=SYSTEM, name="tips", config=RECIPE, arches=["x86_64"])
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM, enqueue=False)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    user = UserFactory()
    user.user_permissions.add(
        Permission.objects.get(codename="view_build", content_type__app_label="builds")
    )
    return build, user


async def test_a_build_viewer_learns_of_lost_lines_and_its_end(dropped):
    build, user = await database_sync_to_async(_build_viewer)()
    ws = await _socket(f"/ws/builds/{build.pk}/", user)
    await ws.send_json_to({"type": "subscribe", "after_seq": 0})
    await _until(ws, "backlog_done")

    await database_sync_to_async(lifecycle.build_log)(build_id=build.pk, lines=["a", "b"])
    await database_sync_to_async(lifecycle.build_fail)(build_id=build.pk, actor=SYSTEM, error="x")

    tip = await _next_tip(ws)
    assert (tip["state"], tip["log_seq"]) == ("failed", 2)
    await ws.send_json_to({"type": "fetch", "after_seq": 0, "until_seq": 2})
    fetched = await ws.receive_json_from(timeout=5)
    assert [line["text"] for line in fetched["lines"]] == ["a", "b"]
    await ws.disconnect()

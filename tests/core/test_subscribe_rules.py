"""Browser sockets: the view permission is checked at connect, and a socket subscribes once."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from builds.services import lifecycle
from builds.services import recipes as recipe_services
from rackpilot.core.actors import Actor
from rackpilot.routing import browser_urlpatterns
from tests.builds_app.conftest import RECIPE
from tests.factories import UserFactory
from tests.workflows.conftest import TWO_ACTIONS, agent_for, make_machine
from workflows.models import Action
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
SYSTEM = Actor.system("tests")
SUBSCRIBE_ONCE = "subscribe once per socket: reconnect to subscribe again"


def _user(*perms: str, superuser: bool = False) -> Any:
    """A signed-in user with the given ``app_label.codename`` permissions and nothing else."""
    user = UserFactory(is_superuser=superuser)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label=app_label)
        )
    return user


def _workflow_with_lines() -> int:
    machine = make_machine("sub-node", "52:54:00:f1:00:01")
    template = template_services.template_create(actor=SYSTEM, name="sub", body=TWO_ACTIONS)
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    action = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    assert action is not None
    agent_for(machine).logs(action.pk, 1, 1, ["one", "two", "three"])
    return workflow.pk


def _build_with_lines() -> int:
    recipe = recipe_services.recipe_create(
        actor=SYSTEM, name="hook", config=RECIPE, arches=["x86_64"]
    )
    (build,) = lifecycle.build_queue(recipe=recipe, actor=SYSTEM)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_log(build_id=build.pk, lines=["one", "two", "three"])
    return build.pk


async def _socket(path: str, user: Any) -> tuple[WebsocketCommunicator, bool, int | None]:
    ws = WebsocketCommunicator(URLRouter(browser_urlpatterns), path)
    ws.scope["user"] = user
    connected, code = await ws.connect()
    return ws, connected, code


async def _until(ws: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


# --- the view permission ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "perm"),
    [
        ("/ws/workflows/{workflow}/", "workflows.view_workflow"),
        ("/ws/builds/{build}/", "builds.view_build"),
        ("/ws/events/", "core.view_event"),
    ],
)
async def test_a_user_without_the_view_permission_is_closed_with_4403(path: str, perm: str):
    workflow = await database_sync_to_async(_workflow_with_lines)()
    build = await database_sync_to_async(_build_with_lines)()
    url = path.format(workflow=workflow, build=build)
    # a user with every other permission of the app, but not this one
    app_label, codename = perm.split(".")
    others = await database_sync_to_async(
        lambda: [
            f"{app_label}.{p.codename}"
            for p in Permission.objects.filter(content_type__app_label=app_label).exclude(
                codename=codename
            )
        ]
    )()
    refused = await database_sync_to_async(_user)(*others)

    ws, connected, code = await _socket(url, refused)

    assert (connected, code) == (False, 4403)
    assert await ws.receive_nothing(timeout=0.3)

    # the same page, for a user holding the permission, and for a superuser
    for allowed in (
        await database_sync_to_async(_user)(perm),
        await database_sync_to_async(_user)(superuser=True),
    ):
        ws, connected, _ = await _socket(url, allowed)
        assert connected
        await ws.disconnect()


async def test_a_refused_user_gets_no_events() -> None:
    nobody = await database_sync_to_async(_user)()  # signed in, no role
    ws, connected, code = await _socket("/ws/events/", nobody)
    assert (connected, code) == (False, 4403)
    machine = await database_sync_to_async(make_machine)("quiet", "52:54:00:f1:00:02")
    from inventory import services

    await database_sync_to_async(services.machine_update)(
        machine=machine, actor=SYSTEM, description="x"
    )
    assert await ws.receive_nothing(timeout=0.5)


# --- subscribe once --------------------------------------------------------------------------


async def test_a_second_workflow_subscribe_closes_without_resending_the_backlog() -> None:
    workflow = await database_sync_to_async(_workflow_with_lines)()
    user = await database_sync_to_async(_user)("workflows.view_workflow")
    ws, connected, _ = await _socket(f"/ws/workflows/{workflow}/", user)
    assert connected
    await ws.send_json_to({"type": "subscribe"})
    frames = await _until(ws, "backlog_done")
    assert [x["text"] for f in frames if f["type"] == "lines" for x in f["lines"]] == [
        "one",
        "two",
        "three",
    ]

    await ws.send_json_to({"type": "subscribe"})

    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4008, "reason": SUBSCRIBE_ONCE}
    assert await ws.receive_nothing(timeout=0.3)

    # a new socket subscribes again, from its cursors
    ws, _, _ = await _socket(f"/ws/workflows/{workflow}/", user)
    action = frames[0]["actions"][0]["id"]
    await ws.send_json_to({"type": "subscribe", "cursors": {str(action): {"attempt": 1, "seq": 2}}})
    again = await _until(ws, "backlog_done")
    assert [x["seq"] for f in again if f["type"] == "lines" for x in f["lines"]] == [3]
    await ws.disconnect()


async def test_a_second_build_subscribe_closes_without_resending_the_backlog() -> None:
    build = await database_sync_to_async(_build_with_lines)()
    user = await database_sync_to_async(_user)("builds.view_build")
    ws, connected, _ = await _socket(f"/ws/builds/{build}/", user)
    assert connected
    # a subscribe the server refused does not count
    await ws.send_json_to({"type": "subscribe", "after_seq": "zero"})
    assert (await ws.receive_json_from(timeout=5))["type"] == "error"
    await ws.send_json_to({"type": "subscribe", "after_seq": 0})
    frames = await _until(ws, "backlog_done")
    assert sum(len(f["lines"]) for f in frames if f["type"] == "lines") == 3

    await ws.send_json_to({"type": "subscribe", "after_seq": 0})

    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 4008, "reason": SUBSCRIBE_ONCE}
    assert await ws.receive_nothing(timeout=0.3)


async def test_fetch_still_works_after_the_subscribe() -> None:
    build = await database_sync_to_async(_build_with_lines)()
    user = await database_sync_to_async(_user)("builds.view_build")
    ws, _, _ = await _socket(f"/ws/builds/{build}/", user)
    await ws.send_json_to({"type": "subscribe", "after_seq": 3})
    await _until(ws, "backlog_done")
    await ws.send_json_to({"type": "fetch", "after_seq": 0, "until_seq": 2})
    gap = await ws.receive_json_from(timeout=5)
    assert [x["seq"] for x in gap["lines"]] == [1, 2]
    await ws.disconnect()


@pytest.mark.parametrize(
    "path", ["/ws/workflows/{workflow}/", "/ws/builds/{build}/", "/ws/events/"]
)
async def test_a_frame_that_is_not_json_is_ignored(path: str) -> None:
    workflow = await database_sync_to_async(_workflow_with_lines)()
    build = await database_sync_to_async(_build_with_lines)()
    user = await database_sync_to_async(_user)(
        "workflows.view_workflow", "builds.view_build", "core.view_event"
    )
    ws, connected, _ = await _socket(path.format(workflow=workflow, build=build), user)
    assert connected
    await ws.send_to(text_data="not json")
    await ws.send_to(bytes_data=b"\x00\x01")
    assert await ws.receive_nothing(timeout=0.3), "no crash, no close"
    if path != "/ws/events/":
        await ws.send_json_to({"type": "subscribe"})
        assert (await ws.receive_json_from(timeout=5))["type"] == "snapshot"
    await ws.disconnect()

"""The answer to a final report carries the agent's next action, and the per-message path
keeps its statement count (written-out SQL: ``workflows/agent_protocol/selectors.py``)."""

from __future__ import annotations

import asyncio
import threading
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rackpilot.core.actors import Actor
from rackpilot.routing import websocket_application
from tests.workflows.conftest import TWO_ACTIONS, TWO_MACHINES, make_machine
from workflows.agent_protocol.consumer import _authenticated_dispatch
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

SYSTEM = Actor.system("tests")


A_MAC, B_MAC = "52:54:00:ee:00:01", "52:54:00:ee:00:02"


def _state(action: dict[str, Any], state: str) -> dict[str, Any]:
    message = {"action": action["action"], "attempt": action["attempt"], "state": state}
    return message | ({"exit_code": 0} if state != "running" else {})


@pytest.mark.django_db
def test_a_final_report_answers_with_what_next_action_would(settings):
    machine = make_machine("next-a", A_MAC)
    template = template_services.template_create(actor=SYSTEM, name="two", body=TWO_ACTIONS)
    token, raw = agent_token_issue(machine=machine, actor=SYSTEM)
    _authenticated_dispatch(raw, token, "hello", {"worker_id": A_MAC})
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)

    first = _authenticated_dispatch(raw, token, "next_action", {})["action"]
    running = _authenticated_dispatch(raw, token, "action_state", _state(first, "running"))
    assert "next" not in running  # only a final state's answer carries it
    done = _authenticated_dispatch(raw, token, "action_state", _state(first, "success"))
    asked = _authenticated_dispatch(raw, token, "next_action", {})
    assert done["next"] == asked["action"]
    assert done["next"]["name"] == "reboot" and done["next"]["state"] == "pending"
    # A repeated report is answered alike.
    again = _authenticated_dispatch(raw, token, "action_state", _state(first, "success"))
    assert again["duplicate"] is True and again["next"] == done["next"]

    second = done["next"]
    _authenticated_dispatch(raw, token, "action_state", _state(second, "running"))
    last = _authenticated_dispatch(raw, token, "action_state", _state(second, "success"))
    assert last["next"] is None
    assert Workflow.objects.get(pk=workflow.pk).state == "success"


@pytest.mark.django_db
def test_the_per_message_path_keeps_its_statement_count():
    machine = make_machine("count-a", A_MAC)
    template = template_services.template_create(actor=SYSTEM, name="two", body=TWO_ACTIONS)
    token, raw = agent_token_issue(machine=machine, actor=SYSTEM)
    _authenticated_dispatch(raw, token, "hello", {"worker_id": A_MAC})
    workflow_create(template=template, machine=machine, actor=SYSTEM)
    first = _authenticated_dispatch(raw, token, "next_action", {})["action"]
    _authenticated_dispatch(raw, token, "action_state", _state(first, "running"))
    done = _authenticated_dispatch(raw, token, "action_state", _state(first, "success"))
    second = done["next"]

    # The second action is mid-workflow: no workflow or machine transition, as most are.
    with CaptureQueriesContext(connection) as asked:
        _authenticated_dispatch(raw, token, "next_action", {})
    with CaptureQueriesContext(connection) as started:
        _authenticated_dispatch(raw, token, "action_state", _state(second, "running"))
    # token, the next action
    assert len(asked) == 2, [q["sql"] for q in asked.captured_queries]
    # token, BEGIN, ownership, three locks, earlier actions, UPDATE, COMMIT
    assert len(started) == 9, [q["sql"] for q in started.captured_queries]


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_only_the_other_machines_agent_is_pushed_after_a_success():
    def setup() -> tuple[Any, ...]:
        a, b = make_machine("push-a", A_MAC), make_machine("push-b", B_MAC)
        template = template_services.template_create(actor=SYSTEM, name="2m", body=TWO_MACHINES)
        _, raw_a = agent_token_issue(machine=a, actor=SYSTEM)
        _, raw_b = agent_token_issue(machine=b, actor=SYSTEM)
        return a, template, raw_a, raw_b

    a, template, raw_a, raw_b = await database_sync_to_async(setup)()
    sockets = []
    for raw, mac in ((raw_a, A_MAC), (raw_b, B_MAC)):
        ws = WebsocketCommunicator(
            websocket_application,
            "/ws/agent/",
            headers=[(b"authorization", f"Bearer {raw}".encode())],
        )
        assert (await ws.connect())[0]
        await ws.send_json_to({"id": 1, "type": "hello", "worker_id": mac})
        assert (await ws.receive_json_from(timeout=5))["type"] == "welcome"
        sockets.append(ws)
    ws_a, ws_b = sockets
    await database_sync_to_async(workflow_create)(
        template=template,
        machine=a,
        actor=SYSTEM,
        hardware_map={"device_1": A_MAC, "device_2": B_MAC},
    )
    for ws in sockets:  # both machines have work in the new workflow
        assert (await ws.receive_json_from(timeout=5))["type"] == "work_available"

    await ws_a.send_json_to({"id": 2, "type": "next_action"})
    action = (await ws_a.receive_json_from(timeout=5))["action"]
    for number, state in ((3, "running"), (4, "success")):
        await ws_a.send_json_to({"id": number, "type": "action_state", **_state(action, state)})
        ack = await ws_a.receive_json_from(timeout=5)
        assert ack["reply_to"] == number
    assert ack["next"] is None  # the next step is the other machine's

    pushed = await ws_b.receive_json_from(timeout=5)
    assert pushed["type"] == "work_available"
    await asyncio.sleep(0.5)  # a push to A would have arrived by now
    assert await ws_a.receive_nothing(timeout=0.5)
    for ws in sockets:
        await ws.disconnect()


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_agent_frames_do_not_queue_behind_the_shared_sync_thread():
    """channels runs a connection sweep on its one thread-sensitive thread before every
    handler; agents' frames skip it, so a busy shared thread holds none of them up."""

    def setup() -> str:
        machine = make_machine("busy-a", A_MAC)
        return agent_token_issue(machine=machine, actor=SYSTEM)[1]

    raw = await database_sync_to_async(setup)()
    ws = WebsocketCommunicator(
        websocket_application, "/ws/agent/", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )
    assert (await ws.connect())[0]
    release = threading.Event()
    busy = asyncio.create_task(sync_to_async(release.wait, thread_sensitive=True)(10))
    try:
        await ws.send_json_to({"id": 1, "type": "hello", "worker_id": A_MAC})
        assert (await ws.receive_json_from(timeout=3))["type"] == "welcome"
        await ws.send_json_to({"id": 2, "type": "next_action"})
        assert (await ws.receive_json_from(timeout=3))["type"] == "no_work"
        assert not busy.done()  # answered while the shared thread was still held
    finally:
        release.set()
        await busy
        await ws.disconnect()

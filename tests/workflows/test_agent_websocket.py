"""``/ws/agent/`` over the real Redis channel layer: pushes on commit, reports, cancel."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from rackpilot.core.actors import Actor
from rackpilot.routing import websocket_application
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_cancel, workflow_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
SYSTEM = Actor.system("tests")


def _setup() -> tuple[Any, Any, str]:
    machine = make_machine("ws-node", "52:54:00:cc:00:01")
    template = template_services.template_create(actor=SYSTEM, name="ws", body=TWO_ACTIONS)
    _, raw = agent_token_issue(machine=machine, actor=SYSTEM)
    return machine, template, raw


async def _connect(raw: str | None) -> WebsocketCommunicator:
    headers = [(b"authorization", f"Bearer {raw}".encode())] if raw else []
    communicator = WebsocketCommunicator(websocket_application, "/ws/agent/", headers=headers)
    return communicator


async def _request(ws: WebsocketCommunicator, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send_json_to(message)
    while True:
        reply = await ws.receive_json_from(timeout=5)
        if reply.get("reply_to") == message.get("id"):
            return reply


async def test_bad_token_is_closed_with_4401():
    ws = await _connect("rpa_not-a-token")
    connected, code = await ws.connect()
    assert not connected
    assert code == 4401
    ws = await _connect(None)
    connected, code = await ws.connect()
    assert not connected


async def test_hello_comes_first():
    _, _, raw = await database_sync_to_async(_setup)()
    ws = await _connect(raw)
    assert (await ws.connect())[0]
    reply = await _request(ws, {"id": 1, "type": "next_action"})
    assert reply["type"] == "error"
    assert reply["code"] == "hello_first"
    await ws.disconnect()


async def test_work_is_pushed_after_commit_and_runs_over_the_socket():
    machine, template, raw = await database_sync_to_async(_setup)()
    ws = await _connect(raw)
    assert (await ws.connect())[0]
    welcome = await _request(
        ws, {"id": 1, "type": "hello", "worker_id": "52:54:00:CC:00:01", "hardware": {"cpus": 4}}
    )
    assert welcome["type"] == "welcome"
    assert welcome["machine"] == "ws-node"
    assert (await _request(ws, {"id": 2, "type": "next_action"}))["type"] == "no_work"

    workflow = await database_sync_to_async(workflow_create)(
        template=template, machine=machine, actor=SYSTEM
    )

    pushed = await ws.receive_json_from(timeout=5)
    assert pushed == {"type": "work_available", "workflow": workflow.pk}
    for step in range(2):
        reply = await _request(ws, {"id": 10 + step, "type": "next_action"})
        action = reply["action"]
        running = await _request(
            ws,
            {
                "id": 20 + step,
                "type": "action_state",
                "action": action["action"],
                "attempt": 1,
                "state": "running",
            },
        )
        assert running["state"] == "running"
        logs = await _request(
            ws,
            {
                "id": 30 + step,
                "type": "logs",
                "action": action["action"],
                "attempt": 1,
                "first_seq": 1,
                "lines": [{"stream": "stdout", "text": f"step {step}"}],
            },
        )
        assert logs["acked_seq"] == 1
        done = await _request(
            ws,
            {
                "id": 40 + step,
                "type": "action_state",
                "action": action["action"],
                "attempt": 1,
                "state": "success",
                "exit_code": 0,
            },
        )
        assert done["state"] == "success"

    state = await database_sync_to_async(lambda: Workflow.objects.get(pk=workflow.pk).state)()
    assert state == "success"
    await ws.disconnect()


async def test_stale_report_over_the_socket_is_an_error_frame():
    machine, template, raw = await database_sync_to_async(_setup)()
    workflow = await database_sync_to_async(workflow_create)(
        template=template, machine=machine, actor=SYSTEM
    )
    second = await database_sync_to_async(
        lambda: Action.objects.filter(task__workflow=workflow).order_by("order")[1].pk
    )()
    ws = await _connect(raw)
    await ws.connect()
    await _request(ws, {"id": 1, "type": "hello", "worker_id": "52:54:00:cc:00:01"})
    reply = await _request(
        ws, {"id": 2, "type": "action_state", "action": second, "attempt": 1, "state": "running"}
    )
    assert reply["type"] == "error"
    assert reply["status"] == 409
    assert reply["code"] == "stale_report"
    await ws.disconnect()


async def test_cancel_is_pushed_to_the_agent_running_the_action():
    machine, template, raw = await database_sync_to_async(_setup)()
    workflow = await database_sync_to_async(workflow_create)(
        template=template, machine=machine, actor=SYSTEM
    )
    ws = await _connect(raw)
    await ws.connect()
    await _request(ws, {"id": 1, "type": "hello", "worker_id": "52:54:00:cc:00:01"})
    action = (await _request(ws, {"id": 2, "type": "next_action"}))["action"]
    await _request(
        ws,
        {
            "id": 3,
            "type": "action_state",
            "action": action["action"],
            "attempt": 1,
            "state": "running",
        },
    )

    await database_sync_to_async(workflow_cancel)(
        workflow=workflow, actor=SYSTEM, reason="operator"
    )

    frame = await ws.receive_json_from(timeout=5)
    assert frame == {"type": "cancel", "action": action["action"], "attempt": 1}
    await ws.disconnect()


async def test_revoked_token_closes_an_open_connection():
    from workflows.agent_protocol.tokens import agent_token_revoke
    from workflows.models import AgentToken

    machine, _, raw = await database_sync_to_async(_setup)()
    ws = await _connect(raw)
    await ws.connect()
    await _request(ws, {"id": 1, "type": "hello", "worker_id": "52:54:00:cc:00:01"})
    token = await database_sync_to_async(AgentToken.objects.get)(machine=machine)
    await database_sync_to_async(agent_token_revoke)(token=token, actor=SYSTEM)
    await ws.send_json_to({"id": 2, "type": "next_action"})
    output = await ws.receive_output(timeout=5)
    assert output == {"type": "websocket.close", "code": 4401}

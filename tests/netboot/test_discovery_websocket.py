"""A discovery token's agent on ``/ws/agent/`` gets its machine's work pushed from the first
hello on, as if the token had been the machine's all along (real Redis channel layer)."""

from __future__ import annotations

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from inventory.models import Machine
from inventory.services import machine_accept
from rackpilot.core.actors import Actor
from rackpilot.routing import websocket_application
from tests.workflows.conftest import TWO_ACTIONS
from tests.workflows.test_agent_websocket import _request
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import AgentToken
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
SYSTEM = Actor.system("tests")
MAC = "52:54:00:d1:5c:01"
HARDWARE = {"disks": [{"device": "/dev/vda", "size_bytes": 1 << 30}], "nics": []}


def _discovery_token() -> str:
    _, raw = agent_token_issue(
        machine=None, actor=SYSTEM, purpose=AgentToken.Purpose.DISCOVERY, mac=MAC
    )
    return raw


def _accept_and_start() -> int:
    machine = machine_accept(machine=Machine.objects.get(), actor=SYSTEM, hostname="ws-disc-01")
    template = template_services.template_create(actor=SYSTEM, name="ws", body=TWO_ACTIONS)
    return workflow_create(template=template, machine=machine, actor=SYSTEM).pk


async def test_work_is_pushed_to_a_discovered_machines_open_socket(settings: Any) -> None:
    settings.NETBOOT_DISCOVERY = True
    settings.NETBOOT_DISCOVERY_SUBNETS = ["127.0.0.0/8"]  # where test clients ask from
    raw = await database_sync_to_async(_discovery_token)()
    ws = WebsocketCommunicator(
        websocket_application, "/ws/agent/", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )
    assert (await ws.connect())[0]
    welcome = await _request(ws, {"id": 1, "type": "hello", "worker_id": MAC, "hardware": HARDWARE})
    assert welcome["type"] == "welcome", welcome
    assert welcome["machine"] == "discovered-525400d15c01"

    workflow_id = await database_sync_to_async(_accept_and_start)()

    pushed = await ws.receive_json_from(timeout=5)
    assert pushed == {"type": "work_available", "workflow": workflow_id}
    action = await _request(ws, {"id": 2, "type": "next_action"})
    assert action["type"] == "action"
    await ws.disconnect()

"""Many agent connections, one after another, on one server with a small connection pool:
each socket's database work hands its connection back, so the next agents are served at once
(a server that kept one per finished socket would stall after the pool's size)."""

from __future__ import annotations

import json

import pytest
import requests
from websockets.sync.client import connect

from rackpilot.core.actors import Actor
from tests.factories import MachineFactory, NetworkInterfaceFactory
from tests.live_server import AsgiLiveServer, asgi_live_server
from workflows.agent_protocol.tokens import agent_token_issue

__all__ = ["asgi_live_server"]

pytestmark = pytest.mark.django_db(transaction=True)
MAC = "52:54:00:70:01:01"
SERVER_POOL_SIZE = 10  # tests/live_server.py


def test_agents_connecting_one_after_another_never_exhaust_the_pool(
    asgi_live_server: AsgiLiveServer,
):
    machine = MachineFactory(hostname="pool-01")
    NetworkInterfaceFactory(machine=machine, mac=MAC, is_boot=True)
    _token, raw = agent_token_issue(machine=machine, actor=Actor.system("tests"))
    for number in range(3 * SERVER_POOL_SIZE):
        with connect(
            asgi_live_server.ws_url + "/ws/agent/",
            additional_headers={"Authorization": f"Bearer {raw}"},
            open_timeout=5,
        ) as ws:
            ws.send(json.dumps({"id": number, "type": "hello", "worker_id": MAC, "hardware": {}}))
            reply = json.loads(ws.recv(timeout=10))
            assert reply["type"] == "welcome", (number, reply)
            ws.send(json.dumps({"id": number, "type": "next_action"}))
            assert json.loads(ws.recv(timeout=10))["type"] == "no_work", number
    # A pool gone dry makes a request wait DB_POOL_TIMEOUT (30 s) for a connection: the
    # replies above would time out first, and so would this.
    health = requests.get(asgi_live_server.url + "/healthz", timeout=10)
    assert health.json()["checks"]["database"] == "ok"

"""Boot nonces: an iPXE script carries a one-time nonce only when the machine has work, the
first hello exchanges it for a session bound to the machine and its workflow, and the session
ends with the workflow. What an action container reads from /proc/cmdline is worth nothing."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from builds.models import Build
from inventory.models import Machine
from inventory.services import machine_transition
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from rackpilot.routing import websocket_application
from tests.netboot.conftest import make_default_build, make_machine, pending_workflow
from tests.workflows.test_agent_websocket import _request
from workflows.models import AgentToken, Workflow
from workflows.services.engine import workflow_cancel

MAC = "52:54:00:12:34:56"
SCRIPT = f"/ipxe/{MAC}/auto.ipxe"
SYSTEM = Actor.system("tests")


def nonce_in(script: str) -> str:
    found = re.search(r"rackpilot_token=(\S+)", script)
    assert found is not None, script
    return found[1]


def agent(raw: str) -> APIClient:
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return api


def hello(raw: str, worker_id: str = MAC) -> Any:
    return agent(raw).post("/api/v1/agent/hello/", {"worker_id": worker_id}, format="json")


def boot(client: Client) -> str:
    """What a netbooting machine's iPXE gets: the script's nonce."""
    response = client.get(SCRIPT, REMOTE_ADDR="10.0.2.15")
    assert response.status_code == 200, response.content
    return nonce_in(response.content.decode())


# --- what the script carries -------------------------------------------------------------------


@pytest.mark.django_db
def test_the_script_carries_a_nonce_for_the_machines_workflow(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    raw = boot(client)
    nonce = AgentToken.objects.get()
    assert nonce.purpose == AgentToken.Purpose.BOOT
    assert (nonce.machine, nonce.workflow) == (bios_machine, Workflow.objects.get())
    assert nonce.spent_at is None
    assert raw.startswith("rpa_")


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({}, "nothing to do for idle-01: no pending or running workflow"),
        ({"allow_workflow": False}, "idle-01 does not allow workflows"),
    ],
)
def test_a_machine_with_nothing_to_do_exits_to_the_next_boot_device(
    client: Client, default_build: Build, change: dict[str, Any], reason: str
) -> None:
    machine = make_machine(hostname="idle-01", mac=MAC, ip="10.0.2.15", **change)

    response = client.get(SCRIPT, REMOTE_ADDR="10.0.2.15")

    assert response.status_code == 200
    script = response.content.decode()
    assert script.startswith("#!ipxe\n")
    assert f"echo Rackpilot: {reason}" in script
    assert script.rstrip().endswith("exit")
    assert "kernel " not in script and "rackpilot_token" not in script
    assert not AgentToken.objects.exists()
    event = Event.objects.get(verb="netboot.script_served", machine=machine)
    assert event.changes["script"] == "exit"


@pytest.mark.django_db
def test_a_finished_workflow_leaves_nothing_to_boot_for(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    workflow_cancel(workflow=Workflow.objects.get(), actor=SYSTEM)
    script = client.get(SCRIPT, REMOTE_ADDR="10.0.2.15").content.decode()
    assert "no pending or running workflow" in script
    assert not AgentToken.objects.exists()


# --- the exchange --------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_first_hello_spends_the_nonce_for_a_session_of_the_workflow(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    raw = boot(client)
    workflow = Workflow.objects.get()

    response = hello(raw)

    assert response.status_code == 200, response.content
    welcome = response.json()
    assert welcome["machine"] == bios_machine.hostname
    assert welcome["workflow"] == workflow.pk
    session = AgentToken.objects.get(purpose=AgentToken.Purpose.SESSION)
    assert (session.machine, session.workflow) == (bios_machine, workflow)
    assert AgentToken.objects.get(purpose=AgentToken.Purpose.BOOT).spent_at is not None
    # The session does the agent's work.
    action = agent(welcome["token"]).get("/api/v1/agent/next-action/")
    assert action.status_code == 200
    assert action.json()["action"]["workflow"] == workflow.pk


@pytest.mark.django_db
def test_a_spent_nonce_read_from_the_kernel_command_line_gets_nothing(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    """A privileged action container can read /proc/cmdline: by then the nonce is spent."""
    raw = boot(client)
    assert hello(raw).status_code == 200

    thief = agent(raw)
    for response in (
        hello(raw),
        thief.get("/api/v1/agent/next-action/"),
        thief.post("/api/v1/agent/token/renew/"),
        thief.post("/api/v1/agent/hardware/", {"hardware": {}}, format="json"),
    ):
        assert response.status_code == 401, response.content
        assert "boot nonce already used" in response.json()["detail"]
    assert AgentToken.objects.filter(purpose=AgentToken.Purpose.SESSION).count() == 1


@pytest.mark.django_db
def test_an_unspent_nonce_only_says_hello(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    raw = boot(client)
    for response in (
        agent(raw).get("/api/v1/agent/next-action/"),
        agent(raw).post("/api/v1/agent/token/renew/"),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "boot_nonce"


@pytest.mark.django_db
def test_a_hello_refused_leaves_the_nonce_unspent(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    raw = boot(client)
    assert hello(raw, worker_id="52:54:00:99:99:99").status_code == 403
    assert AgentToken.objects.get().spent_at is None
    assert hello(raw).status_code == 200


@pytest.mark.django_db
def test_a_new_boot_ends_the_sessions_of_earlier_ones(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    first = hello(boot(client)).json()["token"]
    second = hello(boot(client)).json()["token"]
    assert agent(first).get("/api/v1/agent/next-action/").status_code == 401
    assert agent(second).get("/api/v1/agent/next-action/").status_code == 200


# --- the session ends with the workflow ---------------------------------------------------------


@pytest.mark.django_db
def test_the_session_ends_with_its_workflow_after_the_grace(
    client: Client, bios_machine: Machine, default_build: Build, settings: Any
) -> None:
    settings.AGENT_SESSION_GRACE_SECONDS = 120
    session = hello(boot(client)).json()["token"]
    renewed = agent(session).post("/api/v1/agent/token/renew/")
    assert renewed.status_code == 201  # while the workflow runs
    renewal = AgentToken.objects.get(prefix=renewed.json()["token"][4:12])
    assert renewal.workflow == Workflow.objects.get()

    workflow = workflow_cancel(workflow=Workflow.objects.get(), actor=SYSTEM)
    # Within the grace the last reports still land, but no renewal outlives the workflow.
    assert agent(session).get("/api/v1/agent/next-action/").status_code == 204
    refused = agent(session).post("/api/v1/agent/token/renew/")
    assert refused.status_code == 403
    assert f"workflow #{workflow.pk} has ended" in refused.json()["detail"]

    Workflow.objects.filter(pk=workflow.pk).update(
        finished_at=timezone.now() - timedelta(seconds=121)
    )
    for raw in (session, renewed.json()["token"]):
        ended = agent(raw).get("/api/v1/agent/next-action/")
        assert ended.status_code == 401
        assert f"workflow #{workflow.pk} is cancelled: the session ended" in ended.json()["detail"]


@pytest.mark.django_db
def test_retiring_the_machine_ends_its_session(
    client: Client, bios_machine: Machine, default_build: Build
) -> None:
    session = hello(boot(client)).json()["token"]
    machine_transition(machine=bios_machine, actor=SYSTEM, target=MachineState.RETIRED)
    assert agent(session).get("/api/v1/agent/next-action/").status_code == 401


# --- the WebSocket transport ---------------------------------------------------------------------


def _socket(raw: str) -> WebsocketCommunicator:
    return WebsocketCommunicator(
        websocket_application, "/ws/agent/", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )


def _boot_nonce() -> tuple[str, int]:
    make_default_build()
    machine = make_machine(hostname="ws-boot-01", mac=MAC, ip="10.0.2.15")
    workflow = pending_workflow(machine)
    return boot(Client()), workflow.pk


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_over_the_socket_the_hello_swaps_the_nonce_for_the_session() -> None:
    raw, workflow_id = await database_sync_to_async(_boot_nonce)()
    ws = _socket(raw)
    assert (await ws.connect())[0]
    welcome = await _request(ws, {"id": 1, "type": "hello", "worker_id": MAC})
    assert welcome["type"] == "welcome", welcome
    assert welcome["token"].startswith("rpa_") and welcome["workflow"] == workflow_id

    # The same socket goes on with the session: the spent nonce is not re-checked.
    action = await _request(ws, {"id": 2, "type": "next_action"})
    assert action["type"] == "action"
    assert action["action"]["workflow"] == workflow_id
    await ws.disconnect()

    # A second socket with the spent nonce is closed unauthenticated; the session connects.
    spent = _socket(raw)
    connected, code = await spent.connect()
    assert not connected and code == 4401
    resumed = _socket(welcome["token"])
    assert (await resumed.connect())[0]
    again = await _request(resumed, {"id": 1, "type": "hello", "worker_id": MAC})
    assert again["type"] == "welcome" and "token" not in again
    await resumed.disconnect()


@pytest.mark.django_db
def test_a_discovered_machine_that_reboots_gets_a_nonce_of_its_own(
    client: Client, default_build: Build
) -> None:
    machine = make_machine(
        hostname="waiting", mac=MAC, ip="10.0.2.15", state=MachineState.DISCOVERED
    )
    raw = boot(client)
    nonce = AgentToken.objects.get()
    assert (nonce.purpose, nonce.machine, nonce.workflow) == ("boot", machine, None)
    session = hello(raw).json()["token"]
    assert agent(session).post("/api/v1/agent/token/renew/").status_code == 201

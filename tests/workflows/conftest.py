"""Fixtures for the workflow engine and the agent protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from rest_framework.test import APIClient

from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, AgentToken, Template, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

TWO_ACTIONS = """\
version: "0.1"
name: two-steps
global_timeout: 600
tasks:
  - name: "install"
    worker: "{{ .device_1 }}"
    volumes:
      - /dev:/dev
    environment:
      SHARED: task
    actions:
      - name: "write-disk"
        image: 127.0.0.1:5000/actions/image2disk:v1
        timeout: 60
        environment:
          DEST_DISK: {{ index .Hardware.Disks 0 }}
        on-failure:
          - /bin/sh
          - -c
          - echo cleanup
      - name: "reboot"
        image: 127.0.0.1:5000/actions/reboot:v1
        timeout: 30
        pid: host
"""


@pytest.fixture
def template(db: None) -> Template:
    return template_services.template_create(
        actor=Actor.system("tests"), name="two-steps", body=TWO_ACTIONS
    )


# One task on each of two machines, one action each.
TWO_MACHINES = """\
version: "0.1"
name: two-machines
global_timeout: 600
tasks:
  - name: "first"
    worker: "{{ .device_1 }}"
    actions:
      - name: "one"
        image: 127.0.0.1:5000/actions/tool:v1
        timeout: 60
  - name: "second"
    worker: "{{ .device_2 }}"
    actions:
      - name: "two"
        image: 127.0.0.1:5000/actions/tool:v1
        timeout: 60
"""


def make_machine(hostname: str, mac: str) -> Machine:
    machine = MachineFactory(hostname=hostname)
    NetworkInterfaceFactory(machine=machine, mac=mac, is_boot=True)
    DiskFactory(machine=machine, device="/dev/nvme0n1")
    return machine


def agent_fleet(
    count: int, prefix: str, mac_prefix: str
) -> list[tuple[AgentToken, str, list[Action]]]:
    """``count`` machines, each with a two-action workflow and an agent token:
    (token, raw token, the workflow's actions in order)."""
    template = template_services.template_create(
        actor=Actor.system("tests"), name=prefix, body=TWO_ACTIONS
    )
    fleet = []
    for index in range(count):
        mac = f"{mac_prefix}:{index // 256:02x}:{index % 256:02x}"
        machine = make_machine(f"{prefix}-{index}", mac)
        workflow = workflow_create(template=template, machine=machine, actor=Actor.system("tests"))
        token, raw = agent_token_issue(machine=machine, actor=Actor.system("tests"))
        actions = list(Action.objects.filter(task__workflow=workflow).order_by("order"))
        fleet.append((token, raw, actions))
    return fleet


def two_machine_workflow(prefix: str, mac_prefix: str) -> tuple[Machine, Machine, Workflow]:
    """Machines A and B (MACs ``mac_prefix:00:01`` and ``:00:02``) and a workflow of A's
    whose first task is A's and second B's."""
    a_mac, b_mac = f"{mac_prefix}:00:01", f"{mac_prefix}:00:02"
    a, b = make_machine(f"{prefix}-a", a_mac), make_machine(f"{prefix}-b", b_mac)
    template = template_services.template_create(
        actor=Actor.system("tests"), name=prefix, body=TWO_MACHINES
    )
    workflow = workflow_create(
        template=template,
        machine=a,
        actor=Actor.system("tests"),
        hardware_map={"device_1": a_mac, "device_2": b_mac},
    )
    return a, b, workflow


async def agent_socket(raw: str, action: Action) -> WebsocketCommunicator:
    """An agent socket on /ws/agent/ that has said hello as ``action``'s worker."""
    from rackpilot.routing import websocket_application

    ws = WebsocketCommunicator(
        websocket_application,
        "/ws/agent/",
        headers=[(b"authorization", f"Bearer {raw}".encode())],
    )
    assert (await ws.connect())[0]
    mac = await database_sync_to_async(lambda: action.task.worker)()
    await ws.send_json_to({"id": 0, "type": "hello", "worker_id": mac})
    await ws.receive_json_from(timeout=5)
    return ws


@pytest.fixture
def machine(db: None) -> Machine:
    return make_machine("node-a", "52:54:00:aa:00:01")


@pytest.fixture
def other_machine(db: None) -> Machine:
    return make_machine("node-b", "52:54:00:bb:00:01")


@pytest.fixture
def workflow(template: Template, machine: Machine) -> Workflow:
    return workflow_create(template=template, machine=machine, actor=Actor.system("tests"))


@dataclass
class AgentClient:
    """The agent protocol over REST, as an agent would speak it."""

    client: APIClient
    raw_token: str
    worker_id: str

    def hello(self, hardware: dict[str, Any] | None = None) -> Any:
        return self.client.post(
            "/api/v1/agent/hello/",
            {"worker_id": self.worker_id, "hardware": hardware or {}},
            format="json",
        )

    def next_action(self) -> Any:
        return self.client.get("/api/v1/agent/next-action/")

    def report(self, action: int, attempt: int, state: str, **extra: Any) -> Any:
        return self.client.post(
            f"/api/v1/agent/actions/{action}/state/",
            {"attempt": attempt, "state": state, **extra},
            format="json",
        )

    def logs(self, action: int, attempt: int, first_seq: int, texts: list[str]) -> Any:
        lines = [{"stream": "stdout", "text": text} for text in texts]
        return self.client.post(
            f"/api/v1/agent/actions/{action}/logs/",
            {"attempt": attempt, "first_seq": first_seq, "lines": lines},
            format="json",
        )


def agent_for(machine: Machine) -> AgentClient:
    _, raw = agent_token_issue(machine=machine, actor=Actor.system("tests"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    boot = machine.interfaces.get(is_boot=True)
    return AgentClient(client=client, raw_token=raw, worker_id=boot.mac)


@pytest.fixture
def agent(machine: Machine) -> AgentClient:
    return agent_for(machine)

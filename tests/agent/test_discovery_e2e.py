"""An unknown machine's real agent enrols it and runs the workflow a discovery rule gives it:
netboot script → discovery token → rackpilot-agent hello → discovered machine → rule accepts it
and starts its template → the same agent runs the action in a real container (podman's Docker
API, image from the local registry) → provisioned. Nothing here is mocked."""

from __future__ import annotations

import re
from typing import Any

import pytest
import requests

from inventory.models import Machine
from inventory.states import MachineState
from netboot.discovery import discovery_rule_create
from rackpilot.core.models import Event
from tests.agent.e2e import SYSTEM, AgentProcess, actions_of, stored_lines
from tests.live_server import asgi_live_server
from tests.netboot.conftest import make_default_build
from workflows.models import Workflow
from workflows.services import templates as template_services

__all__ = ["asgi_live_server"]  # a fixture, imported to be used here

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MAC = "52:54:00:d1:5c:0e"


@pytest.fixture
def discovery_on(settings: Any) -> None:
    # Before the server starts: it reads the switch from its environment.
    settings.NETBOOT_DISCOVERY = True
    settings.NETBOOT_DISCOVERY_SUBNETS = ["127.0.0.0/8"]  # where test clients ask from


def discovery_token(server_url: str) -> str:
    """What an unknown machine's iPXE gets, asked the way it asks (arch and platform)."""
    response = requests.get(
        f"{server_url}/ipxe/{MAC}/auto.ipxe",
        params={"arch": "x86_64", "platform": "pcbios"},
        timeout=10,
    )
    assert response.status_code == 200, response.text
    assert "rackpilot_discovery=true" in response.text
    found = re.search(r"rackpilot_token=(\S+)", response.text)
    assert found is not None, response.text
    return found[1]


def test_an_unknown_machine_is_enrolled_and_provisioned_by_a_rule(
    discovery_on: None,
    asgi_live_server: Any,
    action_images: dict[str, str],
    podman_engine: Any,
    tmp_path: Any,
) -> None:
    make_default_build("x86_64")
    body = (
        'version: "0.1"\nname: first-boot\nglobal_timeout: 120\ntasks:\n'
        '  - name: "provision"\n    worker: "{{ .device_1 }}"\n    actions:\n'
        '      - name: "hello"\n'
        f"        image: {action_images['lines']}\n"
        "        timeout: 60\n"
        "        environment:\n"
        '          LINES: "5"\n'
    )
    template = template_services.template_create(actor=SYSTEM, name="first-boot", body=body)
    discovery_rule_create(
        actor=SYSTEM,
        name="lab-vms",
        template=template,
        conditions=f"mac = {MAC}\nnics.count >= 0",
        disable_pxe_on_success=True,
    )
    token = discovery_token(asgi_live_server.url)
    state_dir = tmp_path / "agent"
    state_dir.mkdir()
    agent = AgentProcess(
        server=asgi_live_server,
        machine=None,
        docker_host=podman_engine.base_url,
        state_dir=state_dir,
        token=token,
        worker_id=MAC,
    )

    try:
        agent.start()
        assert agent.wait(timeout=120) == 0, agent.output()
    finally:
        agent.stop()
        podman_engine.remove_all_containers()

    machine = Machine.objects.get(interfaces__mac=MAC)
    assert machine.hostname == "discovered-525400d15c0e"
    assert machine.hardware["cpu"]["threads"] >= 1, "the agent reported this host's hardware"
    workflow = Workflow.objects.get(machine=machine)
    assert workflow.template == template
    assert workflow.state == "success", (workflow.failure_reason, agent.output())
    (action,) = actions_of(workflow)
    assert len(stored_lines(action)) >= 5
    assert machine.state == MachineState.PROVISIONED
    assert machine.allow_pxe is False, "the rule asked for PXE off after success"
    verbs = list(
        Event.objects.filter(machine=machine)
        .order_by("timestamp", "pk")
        .values_list("verb", flat=True)
    )
    assert verbs.index("machine.discovered") < verbs.index("discovery.rule_applied")
    assert verbs.index("discovery.rule_applied") < verbs.index("agent.connected")

"""A workflow that asked for it turns PXE off on success; netboot then refuses the machine."""

from __future__ import annotations

import pytest
from django.test import Client

from builds.models import Build
from rackpilot.core.actors import Actor
from tests.factories import DiskFactory
from tests.netboot.conftest import make_machine
from tests.netboot.test_ipxe_script import kernel_args, token_of
from workflows.agent_protocol.services import ActionReport, agent_report_action
from workflows.agent_protocol.tokens import agent_token_authenticate
from workflows.models import Action
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")

TEMPLATE = """\
version: "0.1"
name: wipe
global_timeout: 600
tasks:
  - name: "wipe"
    worker: "{{ .device_1 }}"
    actions:
      - name: "wipe-disk"
        image: 127.0.0.1:5000/actions/wipe:v1
        timeout: 60
"""


@pytest.mark.parametrize("disable_pxe", [True, False])
def test_successful_workflow_turns_pxe_off_when_asked(
    client: Client, default_build: Build, disable_pxe: bool
) -> None:
    mac = "52:54:00:77:00:01"
    machine = make_machine(hostname="wipe-01", mac=mac, ip="10.0.7.1")
    DiskFactory(machine=machine, device="/dev/sda")
    template = template_services.template_create(actor=SYSTEM, name="wipe", body=TEMPLATE)
    workflow = workflow_create(
        template=template, machine=machine, actor=SYSTEM, disable_pxe_on_success=disable_pxe
    )

    # The machine netboots and its agent runs the workflow with the token from the script.
    first = client.get(f"/ipxe/{mac}/auto.ipxe")
    assert first.status_code == 200
    token = agent_token_authenticate(token_of(kernel_args(first.content.decode())))
    (action,) = Action.objects.filter(task__workflow=workflow)
    for state in ("running", "success"):
        agent_report_action(
            token=token,
            report=ActionReport(action_id=action.pk, attempt=1, state=state, exit_code=0),
        )
    workflow.refresh_from_db()
    assert workflow.state == "success"

    again = client.get(f"/ipxe/{mac}/auto.ipxe")
    if disable_pxe:
        assert again.status_code == 404
        assert again.content.decode() == "allow_pxe is off for wipe-01\n"
    else:
        assert again.status_code == 200
        assert again.content.decode().startswith("#!ipxe\n")

"""Builders for workflow data. Rows for list pages are written directly; anything that moves a
workflow through its lifecycle goes through the engine and the agent services."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import factory
from factory.django import DjangoModelFactory

from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from workflows.agent_protocol.logs import agent_upload_logs
from workflows.agent_protocol.services import ActionReport, agent_report_action
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, Template, Workflow
from workflows.services.engine import workflow_create
from workflows.states import ActionState, WorkflowState

TESTS = Actor.system("tests")

# A Tinkerbell-shaped template: needs a boot interface (device_1) and a disk to render.
UBUNTU_INSTALL = """\
version: "0.1"
name: ubuntu-install
global_timeout: 1800
tasks:
  - name: "os-installation"
    worker: "{{.device_1}}"
    volumes:
      - /dev:/dev
    actions:
      - name: "stream-image"
        image: quay.io/tinkerbell/actions/image2disk:latest
        timeout: 600
        environment:
          DEST_DISK: {{ index .Hardware.Disks 0 }}
          IMG_URL: "http://10.1.1.11:8080/ubuntu.raw.gz"
          COMPRESSED: true
      - name: "kexec"
        image: quay.io/tinkerbell/actions/kexec:latest
        timeout: 90
        pid: host
        environment:
          BLOCK_DEVICE: {{ formatPartition ( index .Hardware.Disks 0 ) 1 }}
          FS_TYPE: ext4
"""


class TemplateFactory(DjangoModelFactory):
    class Meta:
        model = Template

    name = factory.Sequence(lambda n: f"ubuntu-{n}")
    body = UBUNTU_INSTALL
    description = "Stream an Ubuntu image to the first disk and kexec into it."


class WorkflowFactory(DjangoModelFactory):
    """A workflow row without tasks, for list pages; use ``start`` for one that can run."""

    class Meta:
        model = Workflow

    template = factory.SubFactory(TemplateFactory)
    machine = factory.SubFactory(MachineFactory)
    hardware_map = factory.LazyFunction(lambda: {"device_1": "52:54:00:00:00:01"})
    spec = factory.LazyFunction(lambda: {"name": "ubuntu-install"})
    global_timeout = 1800
    state = WorkflowState.SUCCESS


def provisionable_machine(**fields: Any) -> Machine:
    """A ready machine the Ubuntu template renders for: a boot interface and a disk."""
    machine = MachineFactory(**fields)
    NetworkInterfaceFactory(machine=machine, is_boot=True)
    DiskFactory(machine=machine, device="/dev/sda")
    return machine


def start(template: Template, machine: Machine, **options: Any) -> Workflow:
    return workflow_create(template=template, machine=machine, actor=TESTS, **options)


class FakeAgent:
    """The machine's agent, reporting through the same services the agent API calls."""

    def __init__(self, machine: Machine):
        self.token, _ = agent_token_issue(machine=machine, actor=TESTS)

    def next_action(self, workflow: Workflow) -> Action | None:
        return (
            Action.objects.filter(task__workflow=workflow)
            .exclude(state=ActionState.SUCCESS)
            .order_by("order")
            .first()
        )

    def report(self, action: Action, state: str, **extra: Any) -> None:
        agent_report_action(
            token=self.token,
            report=ActionReport(action_id=action.pk, attempt=action.attempt, state=state, **extra),
        )

    def logs(self, action: Action, texts: list[str]) -> None:
        action.refresh_from_db()
        agent_upload_logs(
            token=self.token,
            action_id=action.pk,
            attempt=action.attempt,
            first_seq=action.log_seq + 1,
            lines=[{"stream": "stdout", "text": text} for text in texts],
        )

    def run(self, workflow: Workflow) -> Action:
        """Start the next action and leave it running."""
        action = self.next_action(workflow)
        assert action is not None, "nothing left to run"
        self.report(action, ActionState.RUNNING)
        return action

    def succeed_all(self, workflow: Workflow) -> None:
        while (action := self.next_action(workflow)) is not None:
            if action.state == ActionState.PENDING:
                self.report(action, ActionState.RUNNING)
            self.report(action, ActionState.SUCCESS, exit_code=0)

    def fail(
        self, workflow: Workflow, *, exit_code: int = 1, message: str = "", log: Sequence[str] = ()
    ) -> Action:
        """Run the next action and have it fail, after printing ``log``."""
        action = self.next_action(workflow)
        assert action is not None, "nothing left to fail"
        if action.state == ActionState.PENDING:
            self.report(action, ActionState.RUNNING)
        if log:
            self.logs(action, list(log))
        self.report(action, ActionState.FAILED, exit_code=exit_code, message=message)
        return action


def failed_workflow(template: Template | None = None) -> Workflow:
    """A workflow whose first action failed with exit code 2, after three log lines."""
    machine = provisionable_machine()
    workflow = start(template or TemplateFactory(), machine)
    FakeAgent(machine).fail(
        workflow,
        exit_code=2,
        message="image2disk: unexpected EOF",
        log=["Pulling image", "Writing /dev/sda", "error: short read"],
    )
    workflow.refresh_from_db()
    return workflow

"""``bootstrap``'s demo templates and finished workflows: real runs through the agent services,
so every workflow page of a first ``make run`` has something to show."""

from __future__ import annotations

import io

import pytest
from django.core.management import call_command

from inventory.models import Machine
from inventory.states import MachineState
from workflows.models import LogLine, Template, Workflow
from workflows.services.planning import workflow_plan
from workflows.states import ActionState, WorkflowState

pytestmark = pytest.mark.django_db


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


def test_bootstrap_runs_one_workflow_to_success_and_one_to_its_failure() -> None:
    out = bootstrap()

    assert "Loaded the demo templates ubuntu-22.04, wipe-disks and the finished workflows" in out
    assert "Recorded 4 demo builds of the shipped Hook recipes" in out
    # The two shown workflows come first; the demo history (workflows/demo_history.py) after.
    succeeded, failed = Workflow.objects.order_by("pk")[:2]
    assert (succeeded.state, failed.state) == (WorkflowState.SUCCESS, WorkflowState.FAILED)
    # every action of the success ran and left its log
    actions = succeeded.tasks.get().actions.order_by("order")
    assert [a.name for a in actions] == ["stream-ubuntu-image", "write-netplan", "kexec-ubuntu"]
    assert {a.state for a in actions} == {ActionState.SUCCESS}
    for action in actions:
        assert LogLine.objects.filter(action=action).exists(), action.name
    assert succeeded.machine.state == MachineState.PROVISIONED
    # the failure says why, with its last lines, and the rest was skipped
    reason = failed.failure_reason
    assert reason["action"] == "stream-ubuntu-image" and reason["exit_code"] == 1
    assert reason["message"].startswith("image2disk: unexpected EOF after 1280 MB")
    assert reason["last_lines"][-1] == "error reading image: unexpected EOF"
    assert failed.machine.state == MachineState.FAILED
    states = set(failed.tasks.get().actions.values_list("state", flat=True))
    assert states == {ActionState.FAILED, ActionState.SKIPPED}


def test_the_demo_templates_render_for_the_demo_machines_that_can_run_them() -> None:
    bootstrap()
    machines = Machine.objects.filter(
        state__in=[MachineState.READY, MachineState.FAILED], disks__isnull=False
    ).distinct()[:6]
    assert len(machines) == 6

    for template in Template.objects.all():
        for machine in machines:
            plan = workflow_plan(template=template, machine=machine)
            disk = machine.disks.order_by("device").first()
            assert disk is not None and disk.device in plan.rendered.text


def test_a_second_run_and_no_demo_add_nothing() -> None:
    bootstrap()
    counts = (Template.objects.count(), Workflow.objects.count())

    second = bootstrap()

    assert "demo templates" not in second
    assert (Template.objects.count(), Workflow.objects.count()) == counts


def test_no_demo_loads_no_templates_or_workflows() -> None:
    bootstrap("--no-demo")

    assert not Template.objects.exists() and not Workflow.objects.exists()

"""The whole workflow lifecycle, driven by an agent over the REST transport."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from inventory import services as inventory_services
from inventory.models import Machine
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.models import Event
from tests.workflows.conftest import agent_for
from workflows.models import Action, Workflow
from workflows.services.engine import (
    MachineBusy,
    workflow_cancel,
    workflow_create,
    workflow_rerun,
    workflow_retry,
)
from workflows.states import WorkflowStateViolation

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def _actions(workflow: Workflow) -> list[Action]:
    return list(Action.objects.filter(task__workflow=workflow).order_by("order"))


def test_creation_renders_tasks_and_actions(workflow, machine):
    assert workflow.state == "pending"
    assert workflow.hardware_map == {"device_1": "52:54:00:aa:00:01"}
    assert workflow.global_timeout == 600
    task = workflow.tasks.get()
    assert task.worker == "52:54:00:aa:00:01"
    write, reboot = _actions(workflow)
    assert write.environment == {"SHARED": "task", "DEST_DISK": "/dev/nvme0n1"}
    assert write.volumes == ["/dev:/dev"]
    assert write.on_failure == ["/bin/sh", "-c", "echo cleanup"]
    assert (reboot.pid, reboot.timeout) == ("host", 30)
    machine.refresh_from_db()
    assert machine.state == "ready", "the machine changes state when the workflow starts"


def test_happy_path_moves_workflow_and_machine(workflow, machine, agent):
    assert agent.hello({"cpu": {"cores": 8}}).status_code == 200
    first = agent.next_action().json()["action"]
    assert first["name"] == "write-disk"
    assert first["image"] == "127.0.0.1:5000/actions/image2disk:v1"

    assert agent.report(first["action"], 1, "running").status_code == 200
    workflow.refresh_from_db()
    machine.refresh_from_db()
    assert workflow.state == "running"
    assert machine.state == "provisioning"

    assert agent.report(first["action"], 1, "success", exit_code=0).status_code == 200
    second = agent.next_action().json()["action"]
    assert second["name"] == "reboot"
    agent.report(second["action"], 1, "running")
    agent.report(second["action"], 1, "success", exit_code=0)

    workflow.refresh_from_db()
    machine.refresh_from_db()
    assert workflow.state == "success"
    assert workflow.finished_at is not None
    assert machine.state == "provisioned"
    assert machine.hardware == {"cpu": {"cores": 8}}
    assert agent.next_action().status_code == 204
    verbs = list(Event.objects.filter(machine=machine).values_list("verb", flat=True))
    assert "workflow.started" in verbs
    assert "workflow.success" in verbs


def test_success_turns_pxe_off_when_asked(template, machine, agent):
    workflow = workflow_create(
        template=template, machine=machine, actor=SYSTEM, disable_pxe_on_success=True
    )
    for action in _actions(workflow):
        agent.report(action.pk, 1, "running")
        agent.report(action.pk, 1, "success", exit_code=0)
    machine.refresh_from_db()
    assert machine.allow_pxe is False


def test_reports_are_idempotent(workflow, agent):
    action = _actions(workflow)[0]
    assert agent.report(action.pk, 1, "running").json()["duplicate"] is False
    again = agent.report(action.pk, 1, "running")
    assert again.status_code == 200
    assert again.json()["duplicate"] is True
    agent.report(action.pk, 1, "failed", exit_code=3)
    assert agent.report(action.pk, 1, "failed", exit_code=3).json()["duplicate"] is True
    assert Event.objects.filter(verb="workflow.failed").count() == 1


def test_out_of_order_and_stale_reports_are_409_and_change_nothing(workflow, agent):
    first, second = _actions(workflow)
    # second before first
    response = agent.report(second.pk, 1, "running")
    assert response.status_code == 409
    assert response.json()["code"] == "stale_report"
    # final state without running
    assert agent.report(first.pk, 1, "success", exit_code=0).status_code == 409
    # wrong attempt
    assert agent.report(first.pk, 2, "running").status_code == 409
    workflow.refresh_from_db()
    assert workflow.state == "pending"
    assert {a.state for a in _actions(workflow)} == {"pending"}


def test_failure_records_reason_with_exit_code_and_last_lines(workflow, machine, agent):
    action = _actions(workflow)[0]
    agent.report(action.pk, 1, "running")
    agent.logs(action.pk, 1, 1, [f"line {n}" for n in range(1, 31)])
    response = agent.report(
        action.pk,
        1,
        "failed",
        exit_code=2,
        message="image2disk: no space left",
        reaction={"command": "on-failure", "exit_code": 0},
    )
    assert response.status_code == 200

    workflow.refresh_from_db()
    machine.refresh_from_db()
    assert workflow.state == "failed"
    reason = workflow.failure_reason
    assert reason["action"] == "write-disk"
    assert reason["exit_code"] == 2
    assert reason["message"] == "image2disk: no space left"
    assert reason["last_lines"] == [f"line {n}" for n in range(11, 31)]
    assert [a.state for a in _actions(workflow)] == ["failed", "skipped"]
    assert _actions(workflow)[0].reaction == {"command": "on-failure", "exit_code": 0}
    assert machine.state == "failed"


def test_failed_report_needs_an_exit_code(workflow, agent):
    action = _actions(workflow)[0]
    agent.report(action.pk, 1, "running")
    response = agent.report(action.pk, 1, "failed")
    assert response.status_code == 400
    assert "exit_code" in response.json()["detail"]


def test_retry_from_the_failed_action(workflow, machine, agent):
    first, second = _actions(workflow)
    agent.report(first.pk, 1, "running")
    agent.report(first.pk, 1, "success", exit_code=0)
    agent.report(second.pk, 1, "running")
    agent.report(second.pk, 1, "timeout", message="took too long")
    workflow.refresh_from_db()
    assert workflow.state == "timeout"

    workflow_retry(workflow=workflow, actor=SYSTEM)

    workflow.refresh_from_db()
    machine.refresh_from_db()
    first.refresh_from_db()
    second.refresh_from_db()
    assert workflow.state == "pending"
    assert workflow.failure_reason == {}
    assert first.state == "success", "succeeded actions are not run again"
    assert (second.state, second.attempt) == ("pending", 2)
    assert machine.state == "failed", "the machine waits in failed until the retry starts"
    # an old attempt's report is stale
    assert agent.report(second.pk, 1, "success", exit_code=0).status_code == 409
    assert agent.next_action().json()["action"]["attempt"] == 2
    agent.report(second.pk, 2, "running")
    machine.refresh_from_db()
    assert machine.state == "provisioning"
    agent.report(second.pk, 2, "success", exit_code=0)
    workflow.refresh_from_db()
    assert workflow.state == "success"


def test_retry_refuses_a_successful_or_running_workflow(workflow, agent):
    with pytest.raises(WorkflowStateViolation):
        workflow_retry(workflow=workflow, actor=SYSTEM)


def test_cancel_pending_skips_everything(workflow, machine):
    workflow_cancel(workflow=workflow, actor=SYSTEM, reason="wrong image")
    workflow.refresh_from_db()
    machine.refresh_from_db()
    assert workflow.state == "cancelled"
    assert workflow.failure_reason["message"] == "cancelled by tests: wrong image"
    assert {a.state for a in _actions(workflow)} == {"skipped"}
    assert machine.state == "ready"


def test_cancel_running_stops_the_action_and_fails_the_machine(workflow, machine, agent):
    first = _actions(workflow)[0]
    agent.report(first.pk, 1, "running")

    workflow_cancel(workflow=workflow, actor=SYSTEM)

    first.refresh_from_db()
    machine.refresh_from_db()
    assert first.state == "failed"
    assert first.message.startswith("cancelled by tests")
    assert machine.state == "failed"
    # the agent's late report is stale
    assert agent.report(first.pk, 1, "success", exit_code=0).status_code == 409
    with pytest.raises(WorkflowStateViolation):
        workflow_cancel(workflow=workflow, actor=SYSTEM)


def test_rerun_creates_a_new_workflow(workflow, agent):
    workflow_cancel(workflow=workflow, actor=SYSTEM)
    rerun = workflow_rerun(workflow=workflow, actor=SYSTEM)
    assert rerun.pk != workflow.pk
    assert rerun.rerun_of == workflow
    assert rerun.state == "pending"
    assert rerun.hardware_map == workflow.hardware_map
    with pytest.raises(ConflictError):
        workflow_rerun(workflow=rerun, actor=SYSTEM)


def test_one_unfinished_workflow_per_machine(template, machine, workflow):
    with pytest.raises(MachineBusy):
        workflow_create(template=template, machine=machine, actor=SYSTEM)


def test_allow_workflow_off_refuses(template, machine):
    inventory_services.machine_update(machine=machine, actor=SYSTEM, allow_workflow=False)
    with pytest.raises(ValidationError) as excinfo:
        workflow_create(template=template, machine=machine, actor=SYSTEM)
    assert "allow_workflow" in excinfo.value.message_dict["machine"][0]


def test_provisioned_machine_must_be_deprovisioned_first(template, machine):
    Machine.objects.filter(pk=machine.pk).update(state="provisioned")
    machine.refresh_from_db()
    with pytest.raises(ValidationError):
        workflow_create(template=template, machine=machine, actor=SYSTEM)


def test_render_error_names_template_line(machine):
    from workflows.services.templates import template_create

    broken = template_create(
        actor=SYSTEM,
        name="missing-key",
        body='version: "0.1"\nname: x\nglobal_timeout: 60\ntasks:\n'
        '  - name: t\n    worker: "{{ .device_9 }}"\n    actions: []\n',
    )
    with pytest.raises(ValidationError) as excinfo:
        workflow_create(template=broken, machine=machine, actor=SYSTEM)
    message = excinfo.value.message_dict["template"][0]
    assert message.startswith("6:")
    assert "device_9" in message


def test_token_of_machine_a_cannot_touch_machine_b(template, workflow, other_machine):
    intruder = agent_for(other_machine)
    action = _actions(workflow)[0]
    response = intruder.report(action.pk, 1, "running")
    assert response.status_code == 403
    assert intruder.logs(action.pk, 1, 1, ["x"]).status_code == 403
    assert intruder.next_action().status_code == 204
    action.refresh_from_db()
    assert action.state == "pending"


def test_worker_id_must_belong_to_the_token_machine(agent, other_machine):
    agent.worker_id = "52:54:00:bb:00:01"
    response = agent.hello()
    assert response.status_code == 403

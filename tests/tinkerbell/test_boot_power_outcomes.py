"""What a workflow's boot power jobs (Tinkerbell's bootOptions) do to it when they fail.

The BMC is real Redfish client code talking to a loopback port nobody listens on, so the job
fails the way an unreachable BMC makes it fail.
"""

from __future__ import annotations

import socket

import pytest
import yaml

from inventory.models import BMC, PowerJob
from inventory.power.services import power_job_run
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.tinkerbell.corpus import read
from tests.tinkerbell.test_conformance import WORKFLOWS, import_text
from tests.workflows.factories import FakeAgent
from workflows.models import Workflow
from workflows.services.engine import workflow_retry
from workflows.states import WorkflowState

pytestmark = pytest.mark.django_db
CUSTOMBOOT = "tinkerbell--docs-boot-modes-customboot.yaml"


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _customboot_workflow() -> Workflow:
    import_text(yaml.safe_dump_all(WORKFLOWS[CUSTOMBOOT].prelude()))
    assert import_text(read("workflows", CUSTOMBOOT)) == ""
    workflow = Workflow.objects.get()
    # Unreachable, on loopback: nothing answers there.
    BMC.objects.filter(machine=workflow.machine).update(
        address="127.0.0.1", port=_closed_port(), verify_tls=False
    )
    return workflow


def _run_queued_job(workflow: Workflow) -> PowerJob:
    job = workflow.machine.power_jobs.get(state="queued")
    power_job_run(job_id=job.pk)
    job.refresh_from_db()
    return job


def test_a_failed_start_job_fails_the_workflow_with_the_bmcs_reason() -> None:
    workflow = _customboot_workflow()

    job = _run_queued_job(workflow)

    assert job.state == "failed" and job.purpose == f"workflow:{workflow.pk}:start"
    workflow.refresh_from_db()
    assert workflow.state == WorkflowState.FAILED
    reason = workflow.failure_reason
    assert reason["power_job"] == job.pk
    assert reason["message"].startswith(
        f"the machine was not booted: power cycle (power job #{job.pk}) failed: "
    )
    assert job.error in reason["message"]
    assert set(workflow.tasks.values_list("actions__state", flat=True)) == {"skipped"}


def test_a_retry_asks_for_the_boot_job_again() -> None:
    workflow = _customboot_workflow()
    failed = _run_queued_job(workflow)

    workflow_retry(workflow=workflow, actor=Actor.system("tests"))

    workflow.refresh_from_db()
    assert workflow.state == WorkflowState.PENDING
    again = workflow.machine.power_jobs.get(state="queued")
    assert again.pk != failed.pk
    assert (again.action, again.boot_device) == ("cycle", "pxe")
    assert again.purpose == f"workflow:{workflow.pk}:start"


def test_a_failed_job_after_success_leaves_the_workflow_a_success_and_says_so() -> None:
    workflow = _customboot_workflow()
    workflow.machine.power_jobs.filter(state="queued").update(state="success")
    FakeAgent(workflow.machine).succeed_all(workflow)
    workflow.refresh_from_db()
    assert workflow.state == WorkflowState.SUCCESS

    job = _run_queued_job(workflow)

    assert job.state == "failed" and job.purpose == f"workflow:{workflow.pk}:success"
    workflow.refresh_from_db()
    assert workflow.state == WorkflowState.SUCCESS
    event = Event.objects.get(verb="workflow.boot_power_failed")
    assert event.message.startswith(f"reset (power job #{job.pk}) for the success of the workflow")

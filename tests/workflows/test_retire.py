"""Retiring a machine ends everything it had to do, in one service call."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from inventory.models import BMC, Machine, PowerJob
from inventory.power.services import power_job_request
from rackpilot.core.actors import Actor
from workflows.models import AgentToken, Workflow

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def test_retiring_cancels_workflows_and_power_jobs_revokes_tokens_and_turns_pxe_off(
    workflow: Workflow, machine: Machine, agent, api: APIClient, queued_power_jobs: list[int]
):
    # given a machine running a workflow, with a power job queued and PXE on
    assert agent.hello().status_code == 200
    first = agent.next_action().json()["action"]
    assert agent.report(first["action"], 1, "running").status_code == 200
    BMC.objects.create(machine=machine, protocol="redfish", address="127.0.0.1", port=1)
    job = power_job_request(machine=machine, action="status", actor=SYSTEM)
    Machine.objects.filter(pk=machine.pk).update(allow_pxe=True)

    response = api.post(
        f"/api/v1/machines/{machine.pk}/transition/",
        {"state": "retired", "reason": "decommissioned"},
        format="json",
    )

    assert response.status_code == 200, response.content
    machine.refresh_from_db()
    workflow.refresh_from_db()
    job.refresh_from_db()
    assert machine.state == "retired"
    assert machine.allow_pxe is False
    assert workflow.state == "cancelled"
    assert "retired" in workflow.failure_reason["message"]
    assert job.state == "failed"
    assert "retired" in job.error
    assert not AgentToken.objects.filter(machine=machine, revoked_at__isnull=True).exists()
    # and the agent, whose token is revoked, can do nothing more
    assert agent.next_action().status_code in (401, 403)
    assert agent.report(first["action"], 1, "success", exit_code=0).status_code in (401, 403)
    assert PowerJob.objects.filter(machine=machine, state="queued").count() == 0

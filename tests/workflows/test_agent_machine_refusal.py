"""The agent path re-checks its own machine before serving an action: a machine whose
workflows were turned off, or that was retired, after its workflow was created gets none."""

from __future__ import annotations

import pytest

from inventory.models import Machine
from workflows.models import Workflow

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "change", [{"allow_workflow": False}, {"state": "retired"}], ids=["workflows-off", "retired"]
)
def test_no_action_is_served_or_started_on_a_machine_that_refuses_work(
    workflow: Workflow, machine: Machine, agent, change: dict
):
    # given a pending workflow whose first action the agent can see
    assert agent.hello().status_code == 200
    first = agent.next_action().json()["action"]
    # when the machine stops accepting work
    Machine.objects.filter(pk=machine.pk).update(**change)

    # then nothing is served, and the action it already knew of cannot start
    assert agent.next_action().status_code == 204
    response = agent.report(first["action"], 1, "running")
    assert response.status_code == 403
    assert "no action may start" in response.json()["detail"]
    workflow.refresh_from_db()
    assert workflow.state == "pending"

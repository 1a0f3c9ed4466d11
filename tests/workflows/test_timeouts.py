"""The server enforces action and global timeouts even when the agent is gone."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from workflows.models import Action
from workflows.services.timeouts import workflows_enforce_timeouts

pytestmark = pytest.mark.django_db


def _actions(workflow) -> list[Action]:
    return list(Action.objects.filter(task__workflow=workflow).order_by("order"))


def test_action_past_its_timeout_is_timed_out(workflow, machine, agent, settings):
    settings.WORKFLOW_TIMEOUT_GRACE_SECONDS = 5
    first = _actions(workflow)[0]
    agent.report(first.pk, 1, "running")
    started = timezone.now()

    assert workflows_enforce_timeouts(now=started + timedelta(seconds=64)) == 0
    assert workflows_enforce_timeouts(now=started + timedelta(seconds=66)) == 1

    workflow.refresh_from_db()
    machine.refresh_from_db()
    first.refresh_from_db()
    assert first.state == "timeout"
    assert "timed out by the server" in first.message
    assert workflow.state == "timeout"
    assert workflow.failure_reason["action"] == "write-disk"
    assert machine.state == "failed"
    # the agent's late success report is refused
    assert agent.report(first.pk, 1, "success", exit_code=0).status_code == 409


def test_global_timeout(workflow, agent, settings):
    settings.WORKFLOW_TIMEOUT_GRACE_SECONDS = 0
    first, second = _actions(workflow)
    agent.report(first.pk, 1, "running")
    agent.report(first.pk, 1, "success", exit_code=0)
    agent.report(second.pk, 1, "running")
    workflow.refresh_from_db()
    # the action itself (30 s) is fine at +20 s, but the workflow's 600 s are over
    from workflows.models import Workflow

    Workflow.objects.filter(pk=workflow.pk).update(
        started_at=timezone.now() - timedelta(seconds=601)
    )
    Action.objects.filter(pk=second.pk).update(started_at=timezone.now() - timedelta(seconds=20))

    assert workflows_enforce_timeouts() == 1

    workflow.refresh_from_db()
    assert workflow.state == "timeout"
    assert "global timeout" in workflow.failure_reason["message"]


def test_pending_and_finished_workflows_are_left_alone(workflow):
    assert workflows_enforce_timeouts(now=timezone.now() + timedelta(days=1)) == 0
    workflow.refresh_from_db()
    assert workflow.state == "pending"

"""The timeout sweep asks the database for the workflows past a deadline only: the others
are neither read nor locked (the sweep runs every 10 s over every running workflow)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.db_locks import locked_elsewhere, require_row_locks
from tests.workflows.conftest import agent_for
from workflows.models import Action, Template, Workflow
from workflows.services.engine import workflow_create
from workflows.services.timeouts import due_workflows, workflows_enforce_timeouts


def running(template: Template, machine: Machine, *, action_age: int, age: int = 0) -> Workflow:
    """A workflow whose first action has run ``action_age`` seconds (timeout 60 s), the
    workflow itself ``max(age, action_age)`` seconds."""
    workflow = workflow_create(template=template, machine=machine, actor=Actor.system("tests"))
    first = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    assert first is not None
    assert agent_for(machine).report(first.pk, 1, "running").status_code == 200
    now = timezone.now()
    Action.objects.filter(pk=first.pk).update(started_at=now - timedelta(seconds=action_age))
    Workflow.objects.filter(pk=workflow.pk).update(
        started_at=now - timedelta(seconds=max(age, action_age))
    )
    return workflow


@pytest.mark.django_db
def test_only_workflows_past_a_deadline_are_selected(
    template: Template, machine: Machine, other_machine: Machine, settings: Any
) -> None:
    settings.WORKFLOW_TIMEOUT_GRACE_SECONDS = 5
    action_late = running(template, machine, action_age=66)
    on_time = running(template, other_machine, action_age=30)
    now = timezone.now()
    grace = timedelta(seconds=5)
    assert list(due_workflows(now=now, grace=grace)) == [action_late]
    # the workflow's own deadline counts too, with the action well within its own
    Workflow.objects.filter(pk=on_time.pk).update(started_at=now - timedelta(seconds=606))
    assert set(due_workflows(now=now, grace=grace)) == {action_late, on_time}


@pytest.mark.django_db(transaction=True)
def test_the_sweep_locks_only_the_workflows_it_times_out(
    template: Template, machine: Machine, other_machine: Machine, settings: Any
) -> None:
    require_row_locks()
    settings.WORKFLOW_TIMEOUT_GRACE_SECONDS = 0
    late = running(template, machine, action_age=61)
    on_time = running(template, other_machine, action_age=10)
    on_time_action = Action.objects.get(task__workflow=on_time, state="running")
    # the sweep's transaction still open (as it is while it works through the due rows)
    with transaction.atomic():
        assert workflows_enforce_timeouts() == 1
        assert locked_elsewhere(Workflow, late.pk)
        assert not locked_elsewhere(Workflow, on_time.pk)
        assert not locked_elsewhere(Action, on_time_action.pk)
        assert not locked_elsewhere(Machine, other_machine.pk)
    on_time.refresh_from_db()
    assert on_time.state == "running"

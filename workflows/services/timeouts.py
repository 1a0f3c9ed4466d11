"""Server-side timeouts: the Celery beat sweep ends what the agent could not report."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import DurationField, F, Func, Q, QuerySet
from django.utils import timezone

from rackpilot.core.actors import Actor
from workflows.models import Action, Workflow
from workflows.services.engine import action_finish, locked_workflow, workflow_end
from workflows.services.live import tell_agent_to_stop
from workflows.states import ActionState, WorkflowState


def _timeout_grace() -> timedelta:
    return timedelta(seconds=settings.WORKFLOW_TIMEOUT_GRACE_SECONDS)


def _time_out_action(workflow: Workflow, action: Action, *, now: datetime, message: str) -> None:
    action_finish(
        workflow=workflow,
        action=action,
        target=ActionState.TIMEOUT,
        actor=Actor.system("timeouts"),
        at=now,
        exit_code=None,
        message=message,
    )
    tell_agent_to_stop(action)


def _enforce_one(workflow_id: int, *, now: datetime, grace: timedelta) -> bool:
    """Time out the workflow's running action, or the workflow, if past its deadline; under
    the workflow's lock. Whether it timed anything out."""
    workflow = locked_workflow(Workflow.objects.get(pk=workflow_id))
    if workflow.state != WorkflowState.RUNNING:
        return False
    running = (
        Action.objects.select_for_update()
        .select_related("task")
        .filter(task__workflow=workflow, state=ActionState.RUNNING)
        .first()
    )
    if running is not None and running.started_at is not None:
        deadline = running.started_at + timedelta(seconds=running.timeout) + grace
        if now > deadline:
            message = f"no result {running.timeout} s after it started (timed out by the server)"
            _time_out_action(workflow, running, now=now, message=message)
            return True
    if workflow.started_at is None:
        return False
    if now <= workflow.started_at + timedelta(seconds=workflow.global_timeout) + grace:
        return False
    if running is not None:
        message = f"workflow global timeout ({workflow.global_timeout} s)"
        _time_out_action(workflow, running, now=now, message=message)
    else:
        workflow_end(
            workflow=workflow,
            target=WorkflowState.TIMEOUT,
            actor=Actor.system("timeouts"),
            action=None,
            reason={"message": f"global timeout ({workflow.global_timeout} s)"},
        )
    return True


class Seconds(Func):
    """An integer column of seconds as an interval, for date arithmetic in the query
    (SQLite keeps durations as microseconds, PostgreSQL as intervals)."""

    template = "(%(expressions)s * INTERVAL '1 second')"
    output_field = DurationField()

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> Any:
        return super().as_sql(compiler, connection, template="(%(expressions)s * 1000000)", **extra)


def due_workflows(*, now: datetime, grace: timedelta) -> QuerySet[Workflow]:
    """Running workflows past a deadline, chosen by the database: the running action's
    (started_at + timeout + grace) or the workflow's own (started_at + global_timeout +
    grace). Rows not due are neither read nor locked."""
    overdue_actions = (
        Action.objects.filter(state=ActionState.RUNNING, started_at__isnull=False)
        .alias(deadline=F("started_at") + Seconds("timeout"))
        .filter(deadline__lt=now - grace)
    )
    return (
        Workflow.objects.filter(state=WorkflowState.RUNNING)
        .alias(deadline=F("started_at") + Seconds("global_timeout"))
        .filter(
            Q(started_at__isnull=False, deadline__lt=now - grace)
            | Q(pk__in=overdue_actions.values("task__workflow_id"))
        )
    )


def workflows_enforce_timeouts(*, now: datetime | None = None) -> int:
    """Time out running actions past their timeout and workflows past their global timeout,
    even when the agent is gone. Returns how many workflows were timed out."""
    now = now or timezone.now()
    grace = _timeout_grace()
    timed_out = 0
    for workflow_id in list(
        due_workflows(now=now, grace=grace).order_by("pk").values_list("pk", flat=True)
    ):
        # One transaction per workflow: a slow one does not hold the others' locks. The
        # deadline is read again under the lock (an agent may have reported meanwhile).
        with transaction.atomic():
            timed_out += _enforce_one(workflow_id, now=now, grace=grace)
    return timed_out

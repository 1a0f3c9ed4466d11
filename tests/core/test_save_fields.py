"""``save_fields``: the agent reports' UPDATE by primary key, written as ``save(update_fields=)``
would write it, on SQLite and PostgreSQL, prepared or not."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import DatabaseError, connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rackpilot.core.sql import PendingSave, run_saves, save_fields, saves_deferred
from tests.workflows.factories import WorkflowFactory
from workflows.models import Workflow
from workflows.states import WorkflowState

pytestmark = pytest.mark.django_db


def stored(workflow: Workflow) -> dict[str, object]:
    return Workflow.objects.filter(pk=workflow.pk).values().get()


@pytest.mark.parametrize("prepared", [True, False])
def test_only_the_named_fields_are_written_as_save_writes_them(settings, prepared: bool) -> None:
    settings.DB_PREPARED_STATEMENTS = prepared
    by_orm, by_sql = (
        WorkflowFactory(state=WorkflowState.RUNNING),
        WorkflowFactory(state=WorkflowState.RUNNING),
    )
    before = stored(by_sql)
    finished = timezone.now()
    for workflow in (by_orm, by_sql):
        workflow.state = WorkflowState.FAILED
        workflow.finished_at = finished
        workflow.failure_reason = {"action": "stream", "exit_code": 3, "lines": ["ünïcode"]}
        workflow.global_timeout = 1  # changed in memory, not named: stays as stored
    by_orm.save(update_fields=["state", "finished_at", "failure_reason", "updated_at"])
    save_fields(by_sql, ["state", "finished_at", "failure_reason", "updated_at"])

    orm_row, sql_row = stored(by_orm), stored(by_sql)
    assert sql_row["state"] == WorkflowState.FAILED
    assert sql_row["finished_at"] == finished
    assert sql_row["failure_reason"] == orm_row["failure_reason"] == by_sql.failure_reason
    assert sql_row["global_timeout"] == before["global_timeout"] == 1800
    # auto_now is applied as save applies it: in the row and on the instance.
    assert sql_row["updated_at"] > before["updated_at"]
    assert sql_row["updated_at"] == by_sql.updated_at
    untouched = {"state", "finished_at", "failure_reason", "updated_at", "global_timeout"}
    assert {k: v for k, v in sql_row.items() if k not in untouched} == {
        k: v for k, v in before.items() if k not in untouched
    }


def test_a_foreign_key_is_named_by_field_or_column() -> None:
    workflow = WorkflowFactory()
    other = WorkflowFactory()
    workflow.machine_id = other.machine_id
    workflow.started_at = timezone.now() - timedelta(minutes=5)
    save_fields(workflow, ["machine", "started_at"])
    row = stored(workflow)
    assert row["machine_id"] == other.machine_id
    assert row["started_at"] == workflow.started_at


def test_a_row_that_is_gone_is_an_error_not_a_silent_no_op() -> None:
    workflow = WorkflowFactory()
    Workflow.objects.filter(pk=workflow.pk).delete()
    workflow.state = WorkflowState.CANCELLED
    with pytest.raises(DatabaseError, match=f"Workflow {workflow.pk} is gone"):
        save_fields(workflow, ["state"])


def test_one_statement_logged_and_prepared_once_per_connection(settings) -> None:
    settings.DB_PREPARED_STATEMENTS = True
    workflow = WorkflowFactory(state=WorkflowState.RUNNING)
    with CaptureQueriesContext(connection) as queries:
        for state in (WorkflowState.FAILED, WorkflowState.RUNNING, WorkflowState.SUCCESS):
            workflow.state = state
            save_fields(workflow, ["state"])
    assert len(queries) == 3
    assert all(query["sql"].startswith('UPDATE "workflows_workflow"') for query in queries)
    assert stored(workflow)["state"] == WorkflowState.SUCCESS
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
                ['UPDATE "workflows_workflow" SET "state" = $1 WHERE "id" = $2'],
            )
            assert cursor.fetchone()[0] == 1


@pytest.mark.parametrize("prepared", [True, False])
def test_deferred_saves_wait_and_run_together(settings, prepared: bool) -> None:
    settings.DB_PREPARED_STATEMENTS = prepared
    workflows = [WorkflowFactory(state=WorkflowState.RUNNING) for _ in range(3)]
    pending: list[PendingSave] = []
    with saves_deferred(pending):
        for workflow in workflows:
            workflow.state = WorkflowState.SUCCESS
            save_fields(workflow, ["state"])
        # Nothing written yet; the values are those of the call.
        assert {stored(w)["state"] for w in workflows} == {WorkflowState.RUNNING}
        workflows[0].state = WorkflowState.FAILED
    save_fields(workflows[1], ["state", "finished_at"])  # outside: at once
    assert len(pending) == 3
    with CaptureQueriesContext(connection) as queries:
        run_saves(pending)
    assert [stored(w)["state"] for w in workflows] == [WorkflowState.SUCCESS] * 3
    # One logged statement for the three (executemany: one pipeline on PostgreSQL).
    assert len(queries) == 1 and queries[0]["sql"].startswith("3 times: UPDATE")


def test_a_row_saved_twice_is_saved_in_order_and_a_gone_row_fails_the_lot() -> None:
    first, second = WorkflowFactory(), WorkflowFactory()
    pending: list[PendingSave] = []
    with saves_deferred(pending):
        for state in (WorkflowState.FAILED, WorkflowState.SUCCESS):
            first.state = state
            save_fields(first, ["state"])
        first.finished_at = timezone.now()
        save_fields(first, ["finished_at"])
    run_saves(pending)
    assert stored(first)["state"] == WorkflowState.SUCCESS
    assert stored(first)["finished_at"] == first.finished_at
    pending.clear()
    with saves_deferred(pending):
        save_fields(first, ["state"])
        save_fields(second, ["state"])
    Workflow.objects.filter(pk=second.pk).delete()
    with pytest.raises(DatabaseError, match=f"1 of 2 rows updated: one of .*Workflow {second.pk}"):
        run_saves(pending)

"""Reads of the workflows app that keep query counts flat."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from django.db import connection
from django.db.models import Prefetch, QuerySet

from inventory.models import NetworkInterface
from rackpilot.core.sql import column, hot_cursor, table
from workflows.models import Action, LogLine, Task, Template, Workflow
from workflows.states import ActionState


def template_list() -> QuerySet[Template]:
    return Template.objects.order_by("name")


def workflow_list() -> QuerySet[Workflow]:
    return Workflow.objects.select_related("template", "machine").order_by("-created_at", "-id")


def workflow_detail() -> QuerySet[Workflow]:
    return workflow_list().prefetch_related(
        Prefetch(
            "tasks",
            queryset=Task.objects.order_by("order").prefetch_related(
                Prefetch("actions", queryset=Action.objects.order_by("order"))
            ),
        )
    )


def action_log(action: Action, *, attempt: int | None = None) -> QuerySet[LogLine]:
    """An action attempt's lines in order (the current attempt unless another is asked)."""
    return LogLine.objects.filter(action=action, attempt=attempt or action.attempt).order_by("seq")


def log_backlog(
    workflow_id: int, cursors: dict[int, tuple[int, int]], *, limit: int
) -> list[LogLine]:
    """Lines a reconnecting viewer lacks: per action, those after its (attempt, seq) cursor,
    current attempts only, oldest first, at most ``limit``."""
    actions = Action.objects.filter(task__workflow_id=workflow_id).values_list(
        "pk", "attempt", "order"
    )
    lines: list[LogLine] = []
    for action_id, attempt, _order in sorted(actions, key=lambda row: row[2]):
        seen_attempt, seen_seq = cursors.get(action_id, (attempt, 0))
        after = seen_seq if seen_attempt == attempt else 0
        remaining = limit - len(lines)
        if remaining <= 0:
            break
        lines.extend(
            LogLine.objects.filter(action_id=action_id, attempt=attempt, seq__gt=after).order_by(
                "seq"
            )[:remaining]
        )
    return lines


# Reads of the engine's and the agent protocol's on every action report, written out as SQL
# (rackpilot.core.sql says why).


def worker_machine_ids(workflow_id: int) -> set[int]:
    """The machines whose interfaces are the workers of the workflow's tasks."""
    sql = f"""
        SELECT DISTINCT i.machine_id FROM {table(NetworkInterface)} i
        WHERE i.mac IN (SELECT t.worker FROM {table(Task)} t WHERE t.workflow_id = %s)
    """
    with hot_cursor() as cursor:
        cursor.execute(sql, [workflow_id])
        return {machine_id for (machine_id,) in cursor.fetchall()}


def unsucceeded_action_exists(workflow_id: int, *, before_order: int | None = None) -> bool:
    """Whether an action of the workflow (before position ``before_order``, if given) has not
    succeeded (yet)."""
    before = "" if before_order is None else f" AND a.{column('order')} < %s"
    sql = f"""
        SELECT 1 FROM {table(Action)} a JOIN {table(Task)} t ON t.id = a.task_id
        WHERE t.workflow_id = %s AND a.state <> %s{before} LIMIT 1
    """
    params: list[int | str] = [workflow_id, ActionState.SUCCESS]
    if before_order is not None:
        params.append(before_order)
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchone() is not None


# A constant of ours, written into statements (see first_unsucceeded_sql).
SUCCEEDED = str(ActionState.SUCCESS)
assert SUCCEEDED.isalpha()


def first_unsucceeded_sql(workflow_id_sql: str, count: int) -> str:
    """A subquery: the ``(id, ord)`` of the first ``count`` actions, by order, of workflow
    ``workflow_id_sql`` (an outer column) that have not succeeded. On PostgreSQL each task's
    come from the first entries of the partial index ``action_unsucceeded_order`` (the state
    is written out, not a parameter, so a prepared statement's generic plan can use it):
    however many actions already succeeded, nothing is read or sorted but those first."""
    order = column("order")
    if connection.vendor != "postgresql":
        return f"""
            SELECT au.id, au.{order} AS ord FROM {table(Action)} au
            JOIN {table(Task)} tu ON tu.id = au.task_id
            WHERE tu.workflow_id = {workflow_id_sql} AND au.state <> '{SUCCEEDED}'
            ORDER BY au.{order} LIMIT {count}
        """
    return f"""
        SELECT fu.id, fu.ord FROM {table(Task)} tu
        CROSS JOIN LATERAL (
            SELECT au.id, au.{order} AS ord FROM {table(Action)} au
            WHERE au.task_id = tu.id AND au.state <> '{SUCCEEDED}'
            ORDER BY au.{order} LIMIT {count}
        ) fu
        WHERE tu.workflow_id = {workflow_id_sql}
        ORDER BY fu.ord LIMIT {count}
    """


@dataclass(frozen=True)
class ActionProgress:
    """What the engine reads about an action's workflow when the action starts or ends, read
    for a group of reports at once: whether an action before it has not succeeded (it may not
    start), whether any other action has not (its success does not end the workflow), and the
    machines of the workflow's workers (told that work is waiting)."""

    unsucceeded_before: bool
    unsucceeded_besides: bool
    worker_machine_ids: frozenset[int]


def actions_progress(action_ids: Collection[int]) -> dict[int, ActionProgress]:
    """``ActionProgress`` of each action, by id, in one statement on PostgreSQL; empty
    elsewhere (callers read each fact on its own there). Read under the workflows' locks, it
    holds until one of the workflow's actions changes."""
    if connection.vendor != "postgresql" or not action_ids:
        return {}
    # Every lookup by key, per action (LIMIT keeps the planner from hashing whole tables).
    sql = f"""
        SELECT a.id, a.{column("order")}, f.ids, f.ords,
               ARRAY(SELECT DISTINCT i.machine_id FROM {table(NetworkInterface)} i
                     WHERE i.mac IN (SELECT t3.worker FROM {table(Task)} t3
                                     WHERE t3.workflow_id = t.workflow_id))
        FROM {table(Action)} a
        CROSS JOIN LATERAL (
            SELECT tt.workflow_id FROM {table(Task)} tt WHERE tt.id = a.task_id LIMIT 1
        ) t
        CROSS JOIN LATERAL (
            SELECT array_agg(fx.id ORDER BY fx.ord) AS ids,
                   array_agg(fx.ord ORDER BY fx.ord) AS ords
            FROM ({first_unsucceeded_sql("t.workflow_id", 2)}) fx
        ) f
        WHERE a.id = ANY(%s)
    """
    with hot_cursor() as cursor:
        cursor.execute(sql, [sorted(action_ids)])
        rows = cursor.fetchall()
    progress = {}
    for action_id, order, first_ids, first_orders, machine_ids in rows:
        ids, orders = first_ids or [], first_orders or []
        progress[action_id] = ActionProgress(
            unsucceeded_before=bool(orders) and orders[0] < order,
            unsucceeded_besides=any(other != action_id for other in ids),
            worker_machine_ids=frozenset(machine_ids),
        )
    return progress

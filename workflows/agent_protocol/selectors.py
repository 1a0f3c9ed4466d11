"""Reads on the agent protocol's per-message path, written out as SQL.

Every agent message runs some of these. Built through the ORM's query compiler they cost more
CPU than the database spends answering them (profiled under a thousand reporting agents: most
of a report's time went to compiling joins, filters and orderings), so each is one statement
of plain SQL that returns what the ORM version returned (``rackpilot.core.sql``). The SQL runs
on PostgreSQL and SQLite alike (row locks only where the database has them).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from django.db import connection

from inventory.models import Machine, NetworkInterface
from inventory.states import MachineState
from rackpilot.core.sql import (
    attnames,
    for_update,
    hot_cursor,
    in_values,
    model_from_row,
    select_list,
    table,
)
from workflows.models import Action, Task, Workflow
from workflows.selectors import first_unsucceeded_sql
from workflows.states import WORKFLOW_UNFINISHED, ActionState

# Every action column (a report or an agent's payload uses most of them), and the task columns
# these paths read: the task's other fields are deferred.
ACTION_COLUMNS = attnames(Action)
TASK_COLUMNS = attnames(Task, only=("id", "workflow_id", "name", "worker", "order"))
# A report reads its action's state, attempt and times, not what the agent runs (the command,
# its environment and volumes, the reactions: JSON decoded for nothing on every report).
# Nor the agent's own times, which a report only writes.
REPORT_ACTION_COLUMNS = tuple(
    name
    for name in ACTION_COLUMNS
    if name
    not in (
        *("command", "environment", "volumes", "on_failure", "on_timeout", "reaction"),
        *("agent_started_at", "agent_finished_at"),
    )
)
# A report reads its workflow's state and times, not its template and rendered plan (the
# largest columns, JSON among them): those stay deferred, read only if something asks.
# What a report reads or writes of it: its state and times, the failure it records, and what
# its end does (PXE turned off, a power job): the rest stays deferred, read only if asked for.
REPORT_WORKFLOW_COLUMNS = attnames(
    Workflow,
    only=(
        *("id", "machine_id", "state", "failure_reason", "attempt"),
        *("disable_pxe_on_success", "boot_into_pxe", "boot_power"),
        *("started_at", "finished_at"),
    ),
)


def _action_and_task_columns(action_columns: tuple[str, ...] = ACTION_COLUMNS) -> str:
    return f"{select_list(Action, action_columns, 'a')}, {select_list(Task, TASK_COLUMNS, 't')}"


def _action_with_task(
    row: tuple[object, ...], action_columns: tuple[str, ...] = ACTION_COLUMNS
) -> Action:
    count = len(action_columns)
    action = model_from_row(Action, action_columns, row[:count])
    action.task = model_from_row(Task, TASK_COLUMNS, row[count:])
    return action


@dataclass(frozen=True)
class ReportOwner:
    """What a state report is checked against before anything is locked."""

    workflow_id: int
    workflow_machine_id: int
    machine_is_worker: bool
    machine_allows_work: bool
    machine_retired: bool


def report_owner(*, machine_id: int, action_id: int) -> ReportOwner | None:
    """Action ``action_id``'s worker and workflow, whether machine ``machine_id`` is that
    worker (one of its interfaces has the worker's MAC), and whether it may run work now."""
    sql = f"""
        SELECT t.workflow_id, w.machine_id,
               EXISTS (SELECT 1 FROM {table(NetworkInterface)} i
                       WHERE i.machine_id = %s AND i.mac = t.worker),
               m.allow_workflow, m.state
        FROM {table(Action)} a
        JOIN {table(Task)} t ON t.id = a.task_id
        JOIN {table(Workflow)} w ON w.id = t.workflow_id
        LEFT JOIN {table(Machine)} m ON m.id = %s
        WHERE a.id = %s
    """
    with hot_cursor() as cursor:
        cursor.execute(sql, [machine_id, machine_id, action_id])
        row = cursor.fetchone()
    return None if row is None else _owner(row)


def _owner(row: tuple[Any, ...]) -> ReportOwner:
    workflow_id, workflow_machine_id, is_worker, allows, state = row
    return ReportOwner(
        workflow_id=workflow_id,
        workflow_machine_id=workflow_machine_id,
        machine_is_worker=bool(is_worker),
        machine_allows_work=bool(allows),
        machine_retired=state is None or state == MachineState.RETIRED,
    )


def report_owners(pairs: Collection[tuple[int, int]]) -> dict[tuple[int, int], ReportOwner]:
    """``report_owner`` for many (machine id, action id) pairs: one statement on PostgreSQL;
    pairs whose action does not exist are left out."""
    if connection.vendor != "postgresql":
        found = {pair: report_owner(machine_id=pair[0], action_id=pair[1]) for pair in pairs}
        return {pair: owner for pair, owner in found.items() if owner is not None}
    sql = f"""
        SELECT r.machine_id, r.action_id, t.workflow_id, w.machine_id,
               EXISTS (SELECT 1 FROM {table(NetworkInterface)} i
                       WHERE i.machine_id = r.machine_id AND i.mac = t.worker),
               m.allow_workflow, m.state
        FROM unnest(%s::bigint[], %s::bigint[]) AS r(machine_id, action_id)
        JOIN {table(Action)} a ON a.id = r.action_id
        JOIN {table(Task)} t ON t.id = a.task_id
        JOIN {table(Workflow)} w ON w.id = t.workflow_id
        LEFT JOIN {table(Machine)} m ON m.id = r.machine_id
    """
    listed = list(pairs)
    with hot_cursor() as cursor:
        cursor.execute(sql, [[m for m, _ in listed], [a for _, a in listed]])
        rows = cursor.fetchall()
    return {(row[0], row[1]): _owner(row[2:]) for row in rows}


def lock_for_reports(
    *, machine_ids: Collection[int], workflow_ids: Collection[int], action_ids: Collection[int]
) -> tuple[dict[int, Workflow], dict[int, Action]]:
    """``lock_for_report`` for a group of reports: every machine, then every workflow, then
    every action, each in id order (the engine's lock order, and the same order in any two
    groups), one statement each; the workflows and the actions (with their tasks) by id."""
    machines_in, machine_params = in_values("id", machine_ids)
    workflows_in, workflow_params = in_values("w.id", workflow_ids)
    actions_in, action_params = in_values("a.id", action_ids)
    workflow_sql = f"""
        SELECT {select_list(Workflow, REPORT_WORKFLOW_COLUMNS, "w")} FROM {table(Workflow)} w
        WHERE {workflows_in} ORDER BY w.id{for_update()}
    """
    action_sql = f"""
        SELECT {_action_and_task_columns(REPORT_ACTION_COLUMNS)}
        FROM {table(Action)} a JOIN {table(Task)} t ON t.id = a.task_id
        WHERE {actions_in} ORDER BY a.id{for_update("a")}
    """
    with hot_cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {table(Machine)} WHERE {machines_in} ORDER BY id{for_update()}",
            machine_params,
        )
        cursor.execute(workflow_sql, workflow_params)
        workflows = {
            workflow.pk: workflow
            for workflow in (
                model_from_row(Workflow, REPORT_WORKFLOW_COLUMNS, row) for row in cursor.fetchall()
            )
        }
        cursor.execute(action_sql, action_params)
        actions = {
            action.pk: action
            for action in (
                _action_with_task(row, REPORT_ACTION_COLUMNS) for row in cursor.fetchall()
            )
        }
    return workflows, actions


def lock_for_report(
    *, machine_id: int, workflow_id: int, action_id: int
) -> tuple[Workflow, Action]:
    """Row-lock the machine, the workflow and the action, in the engine's lock order, and
    return the workflow and the action (with its task)."""
    workflow_sql = f"""
        SELECT {select_list(Workflow, REPORT_WORKFLOW_COLUMNS, "w")} FROM {table(Workflow)} w
        WHERE w.id = %s{for_update()}
    """
    action_sql = f"""
        SELECT {_action_and_task_columns(REPORT_ACTION_COLUMNS)}
        FROM {table(Action)} a JOIN {table(Task)} t ON t.id = a.task_id
        WHERE a.id = %s{for_update("a")}
    """
    with hot_cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table(Machine)} WHERE id = %s{for_update()}", [machine_id])
        cursor.execute(workflow_sql, [workflow_id])
        workflow = model_from_row(Workflow, REPORT_WORKFLOW_COLUMNS, cursor.fetchone())
        cursor.execute(action_sql, [action_id])
        action = _action_with_task(cursor.fetchone(), REPORT_ACTION_COLUMNS)
    return workflow, action


# What a log batch needs of its action: the attempt, the acknowledged seq, the workflow (for
# its viewers' group) and the worker.
LOG_ACTION_COLUMNS = attnames(Action, only=("id", "task_id", "attempt", "log_seq"))
LOG_TASK_COLUMNS = attnames(Task, only=("id", "workflow_id", "worker"))


def lock_actions_for_logs(action_ids: Collection[int]) -> dict[int, Action]:
    """The actions row-locked in id order (only the actions: log batches never wait on
    workflow or machine changes), with what a log batch needs of them and of their tasks."""
    if not action_ids:
        return {}
    actions_in, params = in_values("a.id", action_ids)
    sql = f"""
        SELECT {select_list(Action, LOG_ACTION_COLUMNS, "a")},
               {select_list(Task, LOG_TASK_COLUMNS, "t")}
        FROM {table(Action)} a JOIN {table(Task)} t ON t.id = a.task_id
        WHERE {actions_in}
        ORDER BY a.id{for_update("a")}
    """
    found: dict[int, Action] = {}
    split = len(LOG_ACTION_COLUMNS)
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            action = model_from_row(Action, LOG_ACTION_COLUMNS, row[:split])
            action.task = model_from_row(Task, LOG_TASK_COLUMNS, row[split:])
            found[action.pk] = action
    return found


def interface_macs(machine_ids: Collection[int]) -> set[tuple[int, str]]:
    """(machine id, MAC) of every interface of the machines."""
    if not machine_ids:
        return set()
    machines_in, params = in_values("i.machine_id", machine_ids)
    sql = f"SELECT i.machine_id, i.mac FROM {table(NetworkInterface)} i WHERE {machines_in}"
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        return {(machine_id, mac) for machine_id, mac in cursor.fetchall()}


def next_action(
    *, machine_id: int, workflow_id: int | None = None, own_workflows_only: bool = False
) -> Action | None:
    """The action machine ``machine_id``'s agent should run now (or is running), with its task.

    Among the unfinished workflows with a task for one of the machine's MACs, oldest first,
    the first whose next unsucceeded action is that machine's and pending or running. None
    when there is none or the machine may not run work (retired, or workflows turned off).
    ``workflow_id`` narrows it to one workflow; ``own_workflows_only`` to the workflows
    created for the machine itself.
    """
    macs = f"SELECT i.mac FROM {table(NetworkInterface)} i WHERE i.machine_id = %s"
    first_unsucceeded = f"SELECT fu.id FROM ({first_unsucceeded_sql('w.id', 1)}) fu"
    unfinished = sorted(WORKFLOW_UNFINISHED)
    params: list[str | int | bool] = [*unfinished, machine_id]
    narrowing = ""
    if workflow_id is not None:
        narrowing += " AND w.id = %s"
        params.append(workflow_id)
    if own_workflows_only:
        narrowing += " AND w.machine_id = %s"
        params.append(machine_id)
    params += [machine_id, ActionState.PENDING, ActionState.RUNNING]
    params += [machine_id, True, MachineState.RETIRED]
    # The machine's unfinished workflows and each one's next action are worked out first (a
    # materialized CTE), and only then is that action read by its key and checked: joined
    # freely, the planner may start from every pending action of the table (a bitmap over the
    # state index, tens of thousands of entries after a rollout of many workflows).
    sql = f"""
        WITH candidates AS MATERIALIZED (
            SELECT w.id AS workflow_id, w.created_at AS created_at,
                   ({first_unsucceeded}) AS action_id
            FROM {table(Workflow)} w
            WHERE w.state IN ({", ".join(["%s"] * len(unfinished))})
              AND w.id IN (SELECT t3.workflow_id FROM {table(Task)} t3 WHERE t3.worker IN ({macs}))
              {narrowing}
        )
        SELECT {_action_and_task_columns()}
        FROM candidates c
        JOIN {table(Action)} a ON a.id = c.action_id
        JOIN {table(Task)} t ON t.id = a.task_id
        WHERE t.worker IN ({macs})
          AND a.state IN (%s, %s)
          AND EXISTS (SELECT 1 FROM {table(Machine)} m
                      WHERE m.id = %s AND m.allow_workflow = %s AND m.state <> %s)
        ORDER BY c.created_at, c.workflow_id
        LIMIT 1
    """
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else _action_with_task(row)


def next_actions(
    requests: Collection[tuple[int, int | None]],
) -> dict[tuple[int, int | None], Action | None]:
    """``next_action(machine_id=m, workflow_id=w)`` for many (m, w) pairs (w None: any of the
    machine's workflows): one statement on PostgreSQL for a report group's finished actions,
    one per pair elsewhere."""
    listed = sorted(set(requests), key=lambda pair: (pair[0], pair[1] or 0))
    found: dict[tuple[int, int | None], Action | None] = dict.fromkeys(listed)
    if not listed:
        return found
    if connection.vendor != "postgresql":
        for machine_id, workflow_id in listed:
            found[(machine_id, workflow_id)] = next_action(
                machine_id=machine_id, workflow_id=workflow_id
            )
        return found
    macs = f"SELECT i.mac FROM {table(NetworkInterface)} i WHERE i.machine_id = r.machine_id"
    first_unsucceeded = f"SELECT fu.id FROM ({first_unsucceeded_sql('w.id', 1)}) fu"
    # next_action's statement per pair: the candidate workflows and their next actions first
    # (OFFSET 0 keeps the planner from joining them freely, as MATERIALIZED does there), then
    # those actions by key, checked.
    sql = f"""
        SELECT r.machine_id, r.workflow_id, {_action_and_task_columns()}
        FROM unnest(%s::bigint[], %s::bigint[]) AS r(machine_id, workflow_id)
        CROSS JOIN LATERAL (
            SELECT a.id FROM (
                SELECT w.id AS workflow_id, w.created_at AS created_at,
                       ({first_unsucceeded}) AS action_id
                FROM {table(Workflow)} w
                WHERE w.state = ANY(%s)
                  AND w.id IN (SELECT t3.workflow_id FROM {table(Task)} t3
                               WHERE t3.worker IN ({macs}))
                  AND (r.workflow_id IS NULL OR w.id = r.workflow_id)
                OFFSET 0
            ) c
            JOIN {table(Action)} a ON a.id = c.action_id
            JOIN {table(Task)} t ON t.id = a.task_id
            WHERE t.worker IN ({macs}) AND a.state IN (%s, %s)
            ORDER BY c.created_at, c.workflow_id
            LIMIT 1
        ) n
        JOIN {table(Action)} a ON a.id = n.id
        JOIN {table(Task)} t ON t.id = a.task_id
        WHERE EXISTS (SELECT 1 FROM {table(Machine)} m
                      WHERE m.id = r.machine_id AND m.allow_workflow = %s AND m.state <> %s)
    """
    params: list[Any] = [
        [machine_id for machine_id, _ in listed],
        [workflow_id for _, workflow_id in listed],
        sorted(WORKFLOW_UNFINISHED),
        ActionState.PENDING,
        ActionState.RUNNING,
        True,
        MachineState.RETIRED,
    ]
    with hot_cursor() as cursor:
        cursor.execute(sql, params)
        for row in cursor.fetchall():
            found[(row[0], row[1])] = _action_with_task(row[2:])
    return found

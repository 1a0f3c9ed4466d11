"""State reports of many agents applied together (``apply_reports`` and the sockets' intake):
each report is answered on its own, the group re-checks its tokens and records its events once
and commits once, and a refused report or token fails only its own socket."""

from __future__ import annotations

import asyncio
from typing import Any
from unittest import mock

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.workflows.conftest import agent_fleet, agent_socket, two_machine_workflow
from workflows.agent_protocol.dispatch import ProtocolError
from workflows.agent_protocol.reports import ReportItem, apply_reports
from workflows.agent_protocol.tokens import (
    AgentAuthenticationError,
    agent_token_issue,
    agent_token_revoke,
)
from workflows.models import Action, AgentToken
from workflows.states import ActionState, WorkflowState

SYSTEM = Actor.system("tests")


def _fleet(count: int, prefix: str) -> list[tuple[AgentToken, str, list[Action]]]:
    return agent_fleet(count, prefix, "52:54:00:e7")


def _report(token: AgentToken, raw: str, action: Action, state: str, **extra: Any) -> ReportItem:
    payload = {"action": action.pk, "attempt": action.attempt, "state": state, **extra}
    if state != ActionState.RUNNING:
        payload.setdefault("exit_code", 0)
    return ReportItem(token=token, raw_token=raw, payload=payload)


@pytest.mark.django_db(transaction=True)
def test_each_report_of_a_group_is_applied_and_answered_on_its_own():
    fleet = _fleet(5, "grp")
    started = apply_reports([_report(t, r, actions[0], "running") for t, r, actions in fleet])
    assert [answer["state"] for answer in started] == ["running"] * 5  # type: ignore[index]
    assert all(answer["type"] == "action_state_ack" for answer in started)  # type: ignore[index]
    done = apply_reports([_report(t, r, actions[0], "success") for t, r, actions in fleet])
    for (_, _, actions), answer in zip(fleet, done, strict=True):
        assert isinstance(answer, dict)
        assert answer["state"] == "success" and answer["duplicate"] is False
        # A finished action's answer carries the agent's next action, as for one report.
        assert answer["next"]["action"] == actions[1].pk
        first = Action.objects.get(pk=actions[0].pk)
        assert first.state == ActionState.SUCCESS
        assert first.task.workflow.state == WorkflowState.RUNNING
    # The same group again: answered as duplicates, nothing applied twice.
    again = apply_reports([_report(t, r, actions[0], "success") for t, r, actions in fleet])
    assert [answer["duplicate"] for answer in again] == [True] * 5  # type: ignore[index]


@pytest.mark.django_db(transaction=True)
def test_a_group_rechecks_its_tokens_and_records_its_events_once():
    fleet = _fleet(6, "once")
    events_before = Event.objects.count()
    event_table = Event._meta.db_table
    with CaptureQueriesContext(connection) as starts:
        apply_reports([_report(t, r, actions[0], "running") for t, r, actions in fleet])
    statements = [query["sql"] for query in starts.captured_queries]
    assert sum("token_hash" in sql for sql in statements) == 1
    # Each first report started its workflow: the group's events in one INSERT.
    assert sum(sql.startswith(f'INSERT INTO "{event_table}"') for sql in statements) == 1
    assert Event.objects.count() - events_before >= 6
    # An action finishing mid-workflow: one commit for the group, no savepoint per report.
    database = connections[DEFAULT_DB_ALIAS]
    with (
        CaptureQueriesContext(connection) as finishes,
        mock.patch.object(database, "commit", wraps=database.commit) as commit,
    ):
        apply_reports([_report(t, r, actions[0], "success") for t, r, actions in fleet])
    statements = [query["sql"] for query in finishes.captured_queries]
    assert sum("token_hash" in sql for sql in statements) == 1
    assert not any("SAVEPOINT" in sql for sql in statements)
    assert commit.call_count == 1
    if connection.features.has_select_for_update:
        # The group's machines, workflows and actions: one locking statement each.
        assert sum("FOR UPDATE" in sql for sql in statements) == 3


@pytest.mark.django_db(transaction=True)
def test_a_refused_report_or_token_fails_only_its_own_answer():
    fleet = _fleet(4, "refused")
    (t0, r0, a0), (t1, r1, a1), (t2, r2, a2), (t3, r3, a3) = fleet
    agent_token_revoke(token=t3, actor=SYSTEM)
    items = [
        _report(t0, r0, a0[0], "running"),
        _report(t1, r1, a1[0], "running", attempt=7),  # an attempt the server never made
        _report(t2, r2, a2[0], "running"),
        _report(t3, r3, a3[0], "running"),
        _report(t2, r2, a2[0], "bogus"),
    ]
    answers = apply_reports(items)
    assert answers[0]["state"] == "running"  # type: ignore[index]
    assert isinstance(answers[1], ProtocolError) and answers[1].code == "stale_report"
    assert answers[2]["state"] == "running"  # type: ignore[index]
    assert isinstance(answers[3], AgentAuthenticationError)
    assert isinstance(answers[4], ProtocolError) and answers[4].status == 400
    states = dict(
        Action.objects.filter(pk__in=[a0[0].pk, a1[0].pk, a2[0].pk, a3[0].pk]).values_list(
            "pk", "state"
        )
    )
    assert states == {
        a0[0].pk: ActionState.RUNNING,
        a1[0].pk: ActionState.PENDING,
        a2[0].pk: ActionState.RUNNING,
        a3[0].pk: ActionState.PENDING,
    }


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_sockets_reporting_at_once_each_get_their_answer():
    fleet = await database_sync_to_async(_fleet)(12, "sock")

    async def run(ws: WebsocketCommunicator, actions: list[Action]) -> list[dict[str, Any]]:
        answers = []
        for number, state in enumerate(["running", "success"], start=1):
            report = {"id": number, "type": "action_state", "action": actions[0].pk}
            await ws.send_json_to({**report, "attempt": 1, "state": state, "exit_code": 0})
            answers.append(await ws.receive_json_from(timeout=10))
        await ws.disconnect()
        return answers

    # Connected one after the other (SQLite's test database takes one writer at a time); the
    # reports then all at once.
    sockets = [await agent_socket(raw, actions[0]) for _, raw, actions in fleet]
    results = await asyncio.gather(
        *(run(ws, actions) for ws, (_, _, actions) in zip(sockets, fleet, strict=True))
    )
    for (_, _, actions), (running, success) in zip(fleet, results, strict=True):
        assert (running["reply_to"], running["state"]) == (1, "running")
        assert (success["reply_to"], success["state"]) == (2, "success")
        assert success["next"]["action"] == actions[1].pk


@pytest.mark.django_db(transaction=True)
def test_two_reports_on_one_workflow_in_a_group_see_each_others_changes():
    """Machine A finishes its task and machine B starts its own in the same group: B's start
    is checked against A's success, applied just before it in the same transaction."""
    a, b, workflow = two_machine_workflow("pair", "52:54:00:e8")
    token_a, raw_a = agent_token_issue(machine=a, actor=SYSTEM)
    token_b, raw_b = agent_token_issue(machine=b, actor=SYSTEM)
    one, two = Action.objects.filter(task__workflow=workflow).order_by("order")
    (started,) = apply_reports([_report(token_a, raw_a, one, "running")])
    assert started["state"] == "running"  # type: ignore[index]
    database = connections[DEFAULT_DB_ALIAS]
    with mock.patch.object(database, "commit", wraps=database.commit) as commit:
        b_started, a_finished = apply_reports(
            [_report(token_b, raw_b, two, "running"), _report(token_a, raw_a, one, "success")]
        )
    assert commit.call_count == 1  # together, not each alone after a failed group
    assert b_started["state"] == "running"  # type: ignore[index]
    assert a_finished["state"] == "success"  # type: ignore[index]
    assert a_finished["next"] is None  # type: ignore[index]  # A has nothing more to run
    states = dict(Action.objects.filter(task__workflow=workflow).values_list("name", "state"))
    assert states == {"one": ActionState.SUCCESS, "two": ActionState.RUNNING}

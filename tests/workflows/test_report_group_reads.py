"""What a group of state reports reads for all its reports at once: each finished action's
next action (one statement on PostgreSQL) and, per action, where its workflow stands (the
order check, the workflow's end, the machines told of work). Each answer must be what the
report would have got on its own."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rackpilot.core.actors import Actor
from rackpilot.core.events import publishes_collected
from tests.workflows.conftest import TWO_ACTIONS, agent_fleet, two_machine_workflow
from workflows.agent_protocol import services as agent_services
from workflows.agent_protocol.dispatch import ProtocolError
from workflows.agent_protocol.reports import ReportItem, apply_reports
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.groups import agent_group
from workflows.models import Action, AgentToken
from workflows.selectors import (
    ActionProgress,
    actions_progress,
    unsucceeded_action_exists,
    worker_machine_ids,
)
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create
from workflows.states import ActionState, WorkflowState

SYSTEM = Actor.system("tests")


def _report(token: AgentToken, raw: str, action: Action, state: str, **extra: Any) -> ReportItem:
    payload = {"action": action.pk, "attempt": action.attempt, "state": state, **extra}
    if state != ActionState.RUNNING:
        payload.setdefault("exit_code", 0)
    return ReportItem(token=token, raw_token=raw, payload=payload)


def _ok(answer: object) -> dict[str, Any]:
    assert isinstance(answer, dict), answer
    return answer


def _run_through(fleet: list[tuple[AgentToken, str, list[Action]]], action: int) -> list[Any]:
    apply_reports([_report(t, r, actions[action], "running") for t, r, actions in fleet])
    return apply_reports([_report(t, r, actions[action], "success") for t, r, actions in fleet])


@pytest.mark.django_db(transaction=True)
def test_a_group_reads_its_agents_next_actions_and_saves_its_actions_in_one_statement_each():
    fleet = agent_fleet(6, "nexts", "52:54:00:e9")
    apply_reports([_report(t, r, actions[0], "running") for t, r, actions in fleet])
    with CaptureQueriesContext(connection) as finishing:
        answers = apply_reports([_report(t, r, a[0], "success") for t, r, a in fleet])
    for (token, _, actions), answer in zip(fleet, answers, strict=True):
        # The same payload the agent would get asking next_action on its own.
        assert _ok(answer)["next"] == agent_services.agent_next_action(token=token)
        assert answer["next"]["action"] == actions[1].pk
    if connection.vendor == "postgresql":
        statements = [query["sql"] for query in finishing.captured_queries]
        assert sum("AS r(machine_id, workflow_id)" in sql for sql in statements) == 1
        # The six actions' UPDATEs went together, after the group's reads.
        action_updates = [sql for sql in statements if f'UPDATE "{Action._meta.db_table}"' in sql]
        assert len(action_updates) == 1 and action_updates[0].startswith("6 times: ")


@pytest.mark.django_db(transaction=True)
def test_a_machine_token_is_given_the_oldest_workflow_and_a_session_only_its_own():
    """Machine B works in A's workflow (its second task) and has one of its own, created
    later: an operator's token for B is given A's workflow first, B's boot session (issued
    for B's own workflow) only that one — read together as each would be read alone."""
    a, b, shared = two_machine_workflow("queue", "52:54:00:ee")
    own = workflow_create(
        template=template_services.template_create(actor=SYSTEM, name="q1", body=TWO_ACTIONS),
        machine=b,
        actor=SYSTEM,
    )
    token_a, raw_a = agent_token_issue(machine=a, actor=SYSTEM)
    token_b, _ = agent_token_issue(machine=b, actor=SYSTEM)
    session_b, _ = agent_token_issue(
        machine=b, actor=SYSTEM, purpose=AgentToken.Purpose.SESSION, workflow=own
    )
    one, two = Action.objects.filter(task__workflow=shared).order_by("order")
    own_first = Action.objects.filter(task__workflow=own).order_by("order")[0]
    apply_reports([_report(token_a, raw_a, one, "running")])
    apply_reports([_report(token_a, raw_a, one, "success")])
    together = agent_services.agents_next_actions([token_b, session_b, token_a])
    alone = [agent_services.agent_next_action(token=t) for t in (token_b, session_b, token_a)]
    assert together == alone
    assert [None if n is None else n["action"] for n in together] == [
        two.pk,
        own_first.pk,
        None,
    ]


@pytest.mark.django_db(transaction=True)
def test_the_last_actions_of_a_group_end_their_workflows():
    fleet = agent_fleet(4, "ends", "52:54:00:ea")
    _run_through(fleet, 0)
    answers = _run_through(fleet, 1)
    for (_, _, actions), answer in zip(fleet, answers, strict=True):
        assert _ok(answer)["state"] == "success" and answer["next"] is None
        workflow = Action.objects.get(pk=actions[1].pk).task.workflow
        assert workflow.state == WorkflowState.SUCCESS
        assert workflow.finished_at is not None


@pytest.mark.django_db(transaction=True)
def test_a_start_out_of_order_in_a_group_is_refused_alone():
    fleet = agent_fleet(3, "order", "52:54:00:eb")
    (t0, r0, a0), (t1, r1, a1), (t2, r2, a2) = fleet
    answers = apply_reports(
        [
            _report(t0, r0, a0[0], "running"),
            _report(t1, r1, a1[1], "running"),  # its first action has not run
            _report(t2, r2, a2[0], "running"),
        ]
    )
    assert _ok(answers[0])["state"] == "running"
    assert isinstance(answers[1], ProtocolError) and answers[1].code == "stale_report"
    assert _ok(answers[2])["state"] == "running"
    assert Action.objects.get(pk=a1[1].pk).state == ActionState.PENDING


@pytest.mark.django_db(transaction=True)
def test_a_success_in_a_group_tells_the_next_workers_machine_of_its_work():
    """Machine A's action ends; the workflow's next action is machine B's: B's agent is told
    after the commit, A's gets nothing more (its answer carries its next action, none)."""
    a, b, workflow = two_machine_workflow("told", "52:54:00:ec")
    token_a, raw_a = agent_token_issue(machine=a, actor=SYSTEM)
    one, _two = Action.objects.filter(task__workflow=workflow).order_by("order")
    fleet = agent_fleet(2, "told-others", "52:54:00:ed")
    apply_reports(
        [_report(token_a, raw_a, one, "running")]
        + [_report(t, r, actions[0], "running") for t, r, actions in fleet]
    )
    with publishes_collected() as published:
        answers = apply_reports(
            [_report(token_a, raw_a, one, "success")]
            + [_report(t, r, actions[0], "success") for t, r, actions in fleet]
        )
    assert _ok(answers[0])["next"] is None
    told = [group for group, message in published if message["type"] == "work.available"]
    assert told == [agent_group(b.pk)]


@pytest.mark.django_db(transaction=True)
def test_progress_read_together_is_what_each_read_alone_gives():
    """For every action of a two-machine workflow, at every step of its run, the group's
    progress read matches the engine's own reads one by one (PostgreSQL; elsewhere the
    engine reads them one by one anyway)."""
    a, _b, workflow = two_machine_workflow("progress", "52:54:00:ef")
    actions = list(Action.objects.filter(task__workflow=workflow).order_by("order"))
    token_a, raw_a = agent_token_issue(machine=a, actor=SYSTEM)

    def check() -> None:
        found = actions_progress([action.pk for action in actions])
        if connection.vendor != "postgresql":
            assert found == {}
            return
        for action in actions:
            current = Action.objects.get(pk=action.pk)
            others = Action.objects.filter(task__workflow=workflow).exclude(pk=action.pk)
            assert found[action.pk] == ActionProgress(
                unsucceeded_before=unsucceeded_action_exists(
                    workflow.pk, before_order=current.order
                ),
                unsucceeded_besides=others.exclude(state=ActionState.SUCCESS).exists(),
                worker_machine_ids=frozenset(worker_machine_ids(workflow.pk)),
            )

    check()
    apply_reports([_report(token_a, raw_a, actions[0], "running")])
    check()
    apply_reports([_report(token_a, raw_a, actions[0], "success")])
    check()

"""Log lines reach the database exactly as the agent sent them, whatever they hold (the
PostgreSQL path writes COPY's text format itself), and go with their workflow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rackpilot.core import wire_json
from rackpilot.core.actors import Actor
from rackpilot.core.events import publishes_collected
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.agent_protocol.logs import LogBatch, store_log_batches
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.logstore import LineRun
from workflows.models import Action, AgentToken, LogLine, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

SYSTEM = Actor.system("tests")

AWKWARD = [
    "C:\\Windows\\System32 and a trailing backslash \\",
    "tab\tseparated\tcolumns",
    "two\nlines in one",
    "carriage\rreturn\r\n",
    "\\.",  # COPY's end-of-data marker, were it not escaped
    "\\N",  # COPY's NULL, were it not escaped
    "ünïcödé ✓ 🚀 and 中文",
    "",
    "\\t is not a tab, \\n is not a newline",
]


def _action_and_token(index: int = 0) -> tuple[Action, AgentToken, str]:
    template = template_services.template_create(
        actor=SYSTEM, name=f"text-{index}", body=TWO_ACTIONS
    )
    machine = make_machine(f"text-{index}", f"52:54:00:f2:00:{index:02x}")
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    token, raw = agent_token_issue(machine=machine, actor=SYSTEM)
    action = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    assert action is not None
    return action, token, raw


@pytest.mark.django_db
def test_every_character_is_stored_as_sent_with_its_timestamp() -> None:
    action, token, raw = _action_and_token()
    plus_two = timezone(timedelta(hours=2))
    stamps = [
        "2026-12-07T09:30:00.123456+00:00",
        "2026-12-07T11:30:00+02:00",  # stored as the same instant
        "2026-12-07T09:30:00",  # naive: the agent's clock is UTC
    ]
    lines = [
        {"stream": "stderr" if i % 2 else "stdout", "text": text, "ts": stamps[i % 3]}
        for i, text in enumerate(AWKWARD)
    ]
    batch = LogBatch(
        token=token, raw_token=raw, action_id=action.pk, attempt=1, first_seq=1, lines=lines
    )
    (outcome,) = store_log_batches([batch])
    assert outcome == {"action": action.pk, "attempt": 1, "acked_seq": len(AWKWARD)}
    stored = list(
        LogLine.objects.filter(action=action)
        .order_by("seq")
        .values_list("seq", "stream", "timestamp", "text")
    )
    assert [text for *_, text in stored] == AWKWARD
    assert [stream for _, stream, _, _ in stored] == [line["stream"] for line in lines]
    expected = [
        datetime(2026, 12, 7, 9, 30, 0, 123456, tzinfo=UTC),
        datetime(2026, 12, 7, 11, 30, tzinfo=plus_two),
        datetime(2026, 12, 7, 9, 30, tzinfo=UTC),
    ]
    assert [when for _, _, when, _ in stored] == [expected[i % 3] for i in range(len(AWKWARD))]


def test_copy_rows_escape_only_what_the_format_gives_a_meaning() -> None:
    at = datetime(2026, 12, 7, tzinfo=UTC)
    lines = [("stdout", at, at.isoformat(), "a\\b\tc\nd\re ✓"), ("stderr", at, "Z", "")]
    assert LineRun(7, 1, 3, lines).copy_rows() == (
        "7\t1\t3\tstdout\t2026-12-07T00:00:00+00:00\ta\\\\b\\tc\\nd\\re ✓\n7\t1\t4\tstderr\tZ\t\n"
    )
    assert LineRun(8, 2, 1, []).copy_rows() == ""


def _store(action: Action, token: AgentToken, raw: str, count: int) -> None:
    lines = [{"text": f"line {i}"} for i in range(count)]
    batch = LogBatch(
        token=token, raw_token=raw, action_id=action.pk, attempt=1, first_seq=1, lines=lines
    )
    assert isinstance(store_log_batches([batch])[0], dict)


@pytest.mark.django_db
def test_a_deleted_workflow_takes_its_log_lines_with_it() -> None:
    """The lines' action has no constraint in the database: the delete cascades in Django."""
    gone, kept = _action_and_token(1), _action_and_token(2)
    _store(*gone, 5)
    _store(*kept, 3)
    Workflow.objects.filter(pk=gone[0].task.workflow_id).delete()
    assert not LogLine.objects.filter(action_id=gone[0].pk).exists()
    assert LogLine.objects.filter(action_id=kept[0].pk).count() == 3


@pytest.mark.django_db(transaction=True)
def test_a_timestamp_in_rfc_3339_is_shown_as_sent_and_any_other_written_out() -> None:
    """The viewers' frame carries an RFC 3339 timestamp with a zone as the agent wrote it (no
    second formatting per line); a naive one, or another ISO 8601 form, is written out in
    RFC 3339. Each is stored as the instant it names."""
    action, token, raw = _action_and_token(5)
    sent = [
        "2026-12-07T09:30:00.123Z",  # Rackpilot's agent
        "2026-12-07T09:30:00.123456+00:00",  # Python's isoformat
        "2026-12-07T11:30:00+02:00",
        "2026-12-07T09:30:00",  # naive: UTC
        "2026-W50-1T09:30:00+00:00",  # an ISO week date: Monday 7 December
        "2026-12-07T09:30:00.1234Z",  # four digits of a second: written out
    ]
    shown = [
        sent[0],
        sent[1],
        sent[2],
        "2026-12-07T09:30:00+00:00",
        "2026-12-07T09:30:00+00:00",
        "2026-12-07T09:30:00.123400+00:00",
    ]
    batch = LogBatch(
        token=token,
        raw_token=raw,
        action_id=action.pk,
        attempt=1,
        first_seq=1,
        lines=[{"text": f"line {i}", "ts": ts} for i, ts in enumerate(sent)],
    )
    with publishes_collected() as published:
        (outcome,) = store_log_batches([batch])
    assert outcome["acked_seq"] == len(sent)
    frames = [
        wire_json.loads(message["frame"])
        for _, message in published
        if message["type"] == "log.lines"
    ]
    assert [line["ts"] for frame in frames for line in frame["lines"]] == shown
    stored = LogLine.objects.filter(action=action).order_by("seq")
    at = datetime(2026, 12, 7, 9, 30, tzinfo=UTC)
    assert [line.timestamp for line in stored] == [
        at + timedelta(milliseconds=123),
        at + timedelta(microseconds=123456),
        at,
        at,
        at,
        at + timedelta(microseconds=123400),
    ]

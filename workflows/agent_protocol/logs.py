"""Log batches from agents: checked, stored and acknowledged, one batch or many at once.

A batch's lines at or below the action's acknowledged seq are resends after a reconnect:
skipped, never stored twice. A batch that starts past the acknowledged seq + 1 would leave a
gap: refused, and the agent resends from the acknowledged seq.

``store_log_batches`` takes the batches of many agents together (the WebSocket transport
gathers what arrives while the previous group is being written, ``intake.py``): one
transaction, one statement per step for all of them (tokens, locks, interfaces, COPY, seqs),
so a thousand agents' small batches do not each pay for a transaction of their own. Each batch
still gets its own answer: one refused batch leaves the others alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from workflows.agent_protocol import selectors
from workflows.agent_protocol.services import StaleReport, _missing, _not_the_worker, machine_of
from workflows.agent_protocol.tokens import AgentAuthenticationError, agent_tokens_recheck
from workflows.logstore import LineRun, ParsedLine
from workflows.models import Action, AgentToken, LogLine
from workflows.services.logs import action_logs_store

MAX_LINES_PER_BATCH = 5000
MAX_LINE_BYTES = 64 * 1024
NUL_SHOWN_AS = "\u2400"  # SYMBOL FOR NULL

_STREAMS = frozenset(LogLine.Stream.values)
# A timestamp already written as RFC 3339 with its zone (Rackpilot's agent writes milliseconds
# and Z, Python's isoformat microseconds and +00:00) is kept as sent once it parses: PostgreSQL
# and the browsers read it as it is, and writing it out again cost more than all of a line's
# other checks together (py-spy, `benchmarks/log_pipeline.py`). Anything else is written out.
_RFC3339 = re.compile(
    r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{3}|\.\d{6})?(?:Z|[+-]\d\d:\d\d)", re.ASCII
)


def _line_error(index: int, problem: str) -> ValidationError:
    return ValidationError({"lines": f"Line {index}: {problem}"})


def _parse_lines(lines: Any) -> list[ParsedLine]:
    """(stream, timestamp, the timestamp as sent or made, text) per line.

    Runs over every line of every batch: what does not depend on the line is done once, and
    a line's bytes are counted only when it is not plain ASCII (then its length is its size).
    """
    if not isinstance(lines, list):
        raise ValidationError({"lines": "Expected a list of lines."})
    if len(lines) > MAX_LINES_PER_BATCH:
        raise ValidationError({"lines": f"At most {MAX_LINES_PER_BATCH} lines per batch."})
    parsed = []
    now = timezone.now()
    now_text = now.isoformat()
    stdout = LogLine.Stream.STDOUT.value
    for index, line in enumerate(lines):
        text = line.get("text") if isinstance(line, dict) else None
        if not isinstance(text, str):
            raise _line_error(index, "expected an object with 'text'.")
        stream = line.get("stream", stdout)
        if stream not in _STREAMS:
            raise _line_error(index, f"unknown stream '{stream}'.")
        if text.isascii():
            size = len(text)
        else:
            try:
                size = len(text.encode())
            except UnicodeEncodeError:
                raise _line_error(index, "not UTF-8 text (a lone surrogate).") from None
        if size > MAX_LINE_BYTES:
            raise _line_error(index, f"longer than {MAX_LINE_BYTES} bytes; split it.")
        sent = line.get("ts")
        if sent:
            stamp = str(sent)
            try:
                timestamp = datetime.fromisoformat(stamp)
            except ValueError:
                raise _line_error(index, "bad timestamp.") from None
            if not _RFC3339.fullmatch(stamp):
                if timestamp.utcoffset() is None:  # naive: the agent's clock is in UTC
                    timestamp = timestamp.replace(tzinfo=UTC)
                stamp = timestamp.isoformat()
        else:
            timestamp, stamp = now, now_text
        if "\x00" in text:
            # PostgreSQL text cannot hold NUL (a binary printed to stdout has them): shown as ␀.
            text = text.replace("\x00", NUL_SHOWN_AS)
        parsed.append((stream, timestamp, stamp, text))
    return parsed


@dataclass
class LogBatch:
    """One ``logs`` message. ``raw_token``: re-checked with the others' (a socket's token);
    None when the caller has just authenticated it (REST)."""

    token: AgentToken
    action_id: int
    attempt: int
    first_seq: int
    lines: Any
    raw_token: str | None = None
    # The lines checked, read and written out by ``parse``, or why they were refused.
    run: LineRun | None = field(default=None, repr=False)
    refusal: ValidationError | None = field(default=None, repr=False)

    def parse(self) -> None:
        """Check, read and write out the lines (``LineRun.written``), once. A socket does it
        as the batch arrives, on its event loop, while the group before is being written: in
        the writer's turn it held up every batch behind it (the writer's thread was busy nine
        tenths of the time, half of it on this). Refused lines are refused when the group is
        stored, after the token's re-check, as before."""
        if self.run is None and self.refusal is None:
            try:
                parsed = _parse_lines(self.lines)
            except ValidationError as exc:
                self.refusal = exc
                return
            self.run = LineRun(self.action_id, self.attempt, self.first_seq, parsed).written()


# What each batch is answered with: the acknowledgement, or why it was refused.
Outcome = dict[str, Any] | Exception


def _check(batch: LogBatch, action: Action | None, macs: set[tuple[int, str]]) -> None:
    if action is None:
        raise _missing(batch.action_id)
    machine = machine_of(batch.token)
    if (machine.pk, action.task.worker) not in macs:
        raise _not_the_worker(batch.action_id)
    if batch.attempt != action.attempt:
        raise StaleReport(
            f"log lines for attempt {batch.attempt} of action {action.pk}; the current attempt "
            f"is {action.attempt}"
        )
    if batch.first_seq > action.log_seq + 1:
        raise StaleReport(
            f"gap in log lines: expected seq {action.log_seq + 1}, got {batch.first_seq}"
        )


def store_log_batches(batches: list[LogBatch]) -> list[Outcome]:
    """Store the batches in one transaction; each one's outcome in their order. Batches of the
    same action are applied in order, each against the seq the previous one left."""
    outcomes: list[Outcome | None] = [None] * len(batches)
    refusals = agent_tokens_recheck({b.raw_token for b in batches if b.raw_token is not None})
    for index, batch in enumerate(batches):
        try:
            if batch.raw_token is not None and (refusal := refusals[batch.raw_token]):
                raise AgentAuthenticationError(refusal)
            batch.parse()
            if batch.refusal is not None:
                raise batch.refusal
            if batch.first_seq < 1:
                raise ValidationError({"first_seq": "Sequence numbers start at 1."})
            machine_of(batch.token)
        except (AgentAuthenticationError, ValidationError, PermissionDenied) as exc:
            outcomes[index] = exc
    with transaction.atomic():
        waiting = [i for i, outcome in enumerate(outcomes) if outcome is None]
        actions = selectors.lock_actions_for_logs({batches[i].action_id for i in waiting})
        machines = {m for i in waiting if (m := batches[i].token.machine_id) is not None}
        macs = selectors.interface_macs(machines)
        stored: list[tuple[Action, LineRun]] = []
        for index in waiting:
            batch = batches[index]
            action = actions.get(batch.action_id)
            try:
                _check(batch, action, macs)
            except (ValidationError, PermissionDenied, StaleReport) as exc:
                outcomes[index] = exc
                continue
            assert action is not None and batch.run is not None  # parsed: not refused
            fresh = batch.run.after(action.log_seq)  # a resend's stored lines left out
            if fresh.lines:
                stored.append((action, fresh))
                action.log_seq = fresh.last_seq
            outcomes[index] = {
                "action": action.pk,
                "attempt": batch.attempt,
                "acked_seq": action.log_seq,
            }
        action_logs_store(stored)
    assert all(outcome is not None for outcome in outcomes)
    return outcomes  # type: ignore[return-value]


def store_log_batch(batch: LogBatch) -> dict[str, Any]:
    """Store one batch; its acknowledgement, or its refusal raised."""
    (outcome,) = store_log_batches([batch])
    if isinstance(outcome, Exception):
        raise outcome
    return outcome


def agent_upload_logs(
    *, token: AgentToken, action_id: int, attempt: int, first_seq: int, lines: Any
) -> dict[str, Any]:
    """Persist one batch and acknowledge the highest persisted seq (see the module)."""
    return store_log_batch(
        LogBatch(
            token=token, action_id=action_id, attempt=attempt, first_seq=first_seq, lines=lines
        )
    )

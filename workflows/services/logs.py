"""Storing an action's log lines (and publishing them to its viewers), and log retention: lines
of long-finished workflows are pruned in bounded chunks."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone

from rackpilot.core.actors import Actor
from rackpilot.core.events import publish_many_on_commit, record_event
from rackpilot.core.sql import table
from workflows.groups import workflow_group
from workflows.logstore import LineRun, log_lines_insert
from workflows.metrics import LOG_LINES_RECEIVED
from workflows.models import Action, LogLine, Workflow
from workflows.states import WORKFLOW_FINISHED

PRUNE_CHUNK = 10_000


def action_log_store(*, action: Action, run: LineRun) -> None:
    """Store the lines of ``run`` (of ``action``'s attempt), move the action's acknowledged seq
    to the last of them and send them to the workflow's viewers after the commit. The caller
    holds the action's row lock, so seqs are assigned and stored in order."""
    action_logs_store([(action, run)])


def action_logs_store(batches: Sequence[tuple[Action, LineRun]]) -> None:
    """``action_log_store`` for several runs at once (of one action or many, in order): one
    COPY for all their lines and one UPDATE for the actions' acknowledged seqs. Each action
    must have its task loaded (its workflow names the viewers' group)."""
    batches = [(action, run) for action, run in batches if run.lines]
    if not batches:
        return
    log_lines_insert([run for _, run in batches])
    last_seq: dict[int, int] = {}
    for action, run in batches:
        action.log_seq = last_seq[action.pk] = run.last_seq
    # Written out: these run for every batch, and the ORM would compile them every time.
    cases = " ".join("WHEN %s THEN %s" for _ in last_seq)
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table(Action)} SET log_seq = CASE id {cases} END "
            f"WHERE id IN ({', '.join(['%s'] * len(last_seq))})",
            [*(v for pair in last_seq.items() for v in pair), *last_seq],
        )
    # Counted once stored: a rolled-back batch is resent by the agent and counted then.
    count = sum(len(run.lines) for _, run in batches)
    transaction.on_commit(lambda: LOG_LINES_RECEIVED.inc(count))
    publish_many_on_commit(
        [(workflow_group(action.task.workflow_id), lines_message(run)) for action, run in batches]
    )


def lines_message(run: LineRun) -> dict[str, Any]:
    """The group message that carries lines to a workflow's viewers: the viewers' ``lines``
    frame written once, as JSON text (``LineRun.frame``). Each viewer's socket sends that text
    as it is; as a structure, the lines were packed for the channel layer, unpacked and written
    as JSON again for each viewer, and packed for every workflow whether anyone watched it or
    not (a fifth of the web process's time on a log batch)."""
    return {"type": "log.lines", "frame": run.frame()}


def logs_prune(*, older_than: datetime | None = None, actor: Actor | None = None) -> int:
    """Delete the log lines of workflows that finished before ``older_than`` (default: the
    configured retention). Chunked, so a large backlog never holds one long transaction."""
    cutoff = older_than or timezone.now() - timedelta(days=settings.LOG_RETENTION_DAYS)
    expired = Workflow.objects.filter(state__in=WORKFLOW_FINISHED, finished_at__lt=cutoff)
    lines = LogLine.objects.filter(
        action_id__in=Action.objects.filter(task__workflow__in=expired).values("pk")
    )
    total = 0
    while True:
        with transaction.atomic():
            # A chunk is every line up to the chunk's last one in key order: a range of the
            # key, where a list of keys (thousands of tuples) is too deep a statement to run.
            last = list(
                lines.order_by("action_id", "attempt", "seq").values_list(
                    "action_id", "attempt", "seq"
                )[PRUNE_CHUNK - 1 : PRUNE_CHUNK]
            )
            deleted, _ = (lines.filter(pk__lte=last[0]) if last else lines).delete()
        total += deleted
        if not last:
            break
    if total:
        with transaction.atomic():
            record_event(
                actor=actor or Actor.system("retention"),
                verb="logs.pruned",
                message=f"{total} log lines of workflows finished before {cutoff.isoformat()}",
            )
    return total

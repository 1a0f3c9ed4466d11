"""Writing log lines fast: one COPY per group of batches on PostgreSQL, one bulk INSERT
elsewhere; and a run of lines written out once, as the database and the viewers take it."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import DEFAULT_DB_ALIAS, connection, connections

from rackpilot.core import wire_json
from workflows.groups import lines_frame
from workflows.models import LogLine

# (stream, timestamp, the timestamp as shown, text)
ParsedLine = tuple[str, datetime, str, str]
# (seq, stream, timestamp, the timestamp as shown, text)
NumberedLine = tuple[int, str, datetime, str, str]
COLUMNS = ("action_id", "attempt", "seq", "stream", "timestamp", "text")


def _copy_escaped(text: str) -> str:
    """``text`` as a field of COPY's text format (NUL was replaced before: text holds none)."""
    if "\\" in text:
        text = text.replace("\\", "\\\\")
    if "\n" in text:
        text = text.replace("\n", "\\n")
    if "\r" in text:
        text = text.replace("\r", "\\r")
    if "\t" in text:
        text = text.replace("\t", "\\t")
    return text


@functools.cache
def _copies() -> bool:
    """Whether lines are stored by COPY. Looked up once: asked from an agent socket's task,
    ``connections`` builds a database wrapper for each task's context."""
    return connections[DEFAULT_DB_ALIAS].vendor == "postgresql"


@dataclass(slots=True)
class LineRun:
    """Lines of one action attempt, numbered from ``first_seq`` on, and what they are written
    out as: COPY's text rows (PostgreSQL) and the viewers' ``lines`` frame, as JSON text.

    An agent socket writes both out as its batch arrives, on its event loop, while the
    batches before are being stored (``written``): built in the writer's transaction they
    held up every batch behind them (the writer's thread waits on nothing else but the
    database). What is not written out yet is when asked for, e.g. for a resend's remainder.
    """

    action_id: int
    attempt: int
    first_seq: int
    lines: Sequence[ParsedLine]
    _copy_rows: str | None = field(default=None, repr=False)
    _frame: str | None = field(default=None, repr=False)

    @property
    def last_seq(self) -> int:
        return self.first_seq + len(self.lines) - 1

    def numbered(self) -> Iterator[NumberedLine]:
        for index, (stream, timestamp, stamp, text) in enumerate(self.lines):
            yield self.first_seq + index, stream, timestamp, stamp, text

    def after(self, seq: int) -> LineRun:
        """The lines past ``seq`` (what a resend adds to what is stored); itself if all are."""
        if seq < self.first_seq:
            return self
        kept = self.lines[seq - self.first_seq + 1 :]
        return LineRun(self.action_id, self.attempt, seq + 1, kept)

    def copy_rows(self) -> str:
        """The lines as rows of COPY's text format, built in one pass: formatting them row by
        row through the driver's dumpers, or building a tuple per line first, cost the web
        process more CPU than anything else on a log batch."""
        if self._copy_rows is None:
            prefix = f"{self.action_id}\t{self.attempt}\t"
            self._copy_rows = "".join(
                f"{prefix}{seq}\t{stream}\t{stamp}\t{_copy_escaped(text)}\n"
                for seq, (stream, _, stamp, text) in enumerate(self.lines, self.first_seq)
            )
        return self._copy_rows

    def frame(self) -> str:
        """The viewers' ``lines`` frame (``workflows.groups.lines_frame``) as JSON text."""
        if self._frame is None:
            shown = (
                (seq, stream, stamp, text)
                for seq, (stream, _, stamp, text) in enumerate(self.lines, self.first_seq)
            )
            self._frame = wire_json.dumps(lines_frame(self.action_id, self.attempt, shown))
        return self._frame

    def written(self) -> LineRun:
        """Write out now what storing and sending the lines will take; the run itself."""
        if self.lines:
            self.frame()
            if _copies():
                self.copy_rows()
        return self


def log_lines_insert(runs: Sequence[LineRun]) -> None:
    """Store the runs' lines in the caller's transaction. No model instances are built on
    PostgreSQL: on the hot path they cost more than the database does."""
    runs = [run for run in runs if run.lines]
    if not runs:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(LogLine._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write("".join(run.copy_rows() for run in runs))
        return
    LogLine.objects.bulk_create(
        LogLine(action_id=run.action_id, attempt=run.attempt, seq=q, stream=s, timestamp=t, text=x)
        for run in runs
        for q, s, t, _, x in run.numbered()
    )

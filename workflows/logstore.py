"""Writing log lines fast: one COPY per group of batches on PostgreSQL, one bulk INSERT
elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from workflows.models import LogLine

# (seq, stream, timestamp, the timestamp as shown, text)
NumberedLine = tuple[int, str, datetime, str, str]
# (action id, attempt, its lines)
LineBatch = tuple[int, int, Sequence[NumberedLine]]
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


def copy_text(batches: Sequence[LineBatch]) -> str:
    """The batches' lines as COPY's text format, built in one pass straight from the batches:
    formatting row by row through the driver's dumpers, and then building a row per line
    first, cost the web process more CPU than anything else on a log batch."""
    return "".join(
        f"{prefix}{seq}\t{stream}\t{stamp}\t{_copy_escaped(text)}\n"
        for prefix, lines in (
            (f"{action_id}\t{attempt}\t", lines) for action_id, attempt, lines in batches
        )
        for seq, stream, _, stamp, text in lines
    )


def log_lines_insert(batches: Sequence[LineBatch]) -> None:
    """Store the batches' lines in the caller's transaction. No model instances are built on
    PostgreSQL: on the hot path they cost more than the database does."""
    if not any(lines for _, _, lines in batches):
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(LogLine._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                copy.write(copy_text(batches))
        return
    LogLine.objects.bulk_create(
        LogLine(action_id=action_id, attempt=attempt, seq=q, stream=s, timestamp=t, text=x)
        for action_id, attempt, lines in batches
        for q, s, t, _, x in lines
    )

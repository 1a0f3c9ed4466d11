"""Writing log lines fast: one COPY per batch on PostgreSQL, one bulk INSERT elsewhere."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from django.db import connection

from workflows.models import LogLine

# (action_id, attempt, seq, stream, timestamp, text)
Row = tuple[int, int, int, str, datetime, str]
COLUMNS = ("action_id", "attempt", "seq", "stream", "timestamp", "text")


def log_lines_insert(rows: Sequence[Row]) -> None:
    """Store rows in the caller's transaction. No model instances are built: on the hot path
    they cost more than the database does."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        table = connection.ops.quote_name(LogLine._meta.db_table)
        columns = ", ".join(connection.ops.quote_name(c) for c in COLUMNS)
        with connection.cursor() as cursor:
            raw = cursor.cursor  # the psycopg cursor under Django's wrapper
            with raw.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        return
    LogLine.objects.bulk_create(
        LogLine(action_id=a, attempt=n, seq=q, stream=s, timestamp=t, text=x)
        for a, n, q, s, t, x in rows
    )

"""Log lines move to a table keyed by (action, attempt, seq) and back, none lost or changed."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import IntegrityError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

BEFORE = ("workflows", "0012_action_unsucceeded_order")
KEYED = ("workflows", "0013_log_line_keyed_by_seq")
ROWS = [
    (11, 1, 1, "stdout", "first"),
    (11, 1, 2, "stderr", "tab\there, new\nline"),
    (11, 2, 1, "system", "second attempt"),
    (12, 1, 1, "syslog", "✓ another action"),
]


def _migrate(target: tuple[str, str]) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate([target])


def _lines() -> list[tuple[int, int, int, str, str]]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action_id, attempt, seq, stream, text FROM workflows_logline "
            "ORDER BY action_id, attempt, seq"
        )
        return [tuple(row) for row in cursor.fetchall()]


def _columns() -> set[str]:
    with connection.cursor() as cursor:
        described = connection.introspection.get_table_description(cursor, "workflows_logline")
    return {column.name for column in described}


def _insert(rows: list[tuple[int, int, int, str, str]]) -> None:
    with connection.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO workflows_logline (action_id, attempt, seq, stream, timestamp, text) "
            "VALUES (%s, %s, %s, %s, '2026-12-07T09:30:00+00:00', %s)",
            rows,
        )


@pytest.fixture
def at_latest_after() -> Iterator[None]:
    yield
    _migrate(KEYED)


@pytest.mark.django_db(transaction=True)
def test_lines_keep_their_content_across_the_new_key_both_ways(at_latest_after: None) -> None:
    _migrate(BEFORE)
    _insert(ROWS)
    assert "id" in _columns()

    _migrate(KEYED)
    assert _lines() == ROWS
    assert "id" not in _columns()
    with pytest.raises(IntegrityError), transaction.atomic():
        _insert([ROWS[0]])  # the key refuses a line stored twice

    _migrate(BEFORE)
    assert _lines() == ROWS
    assert "id" in _columns()

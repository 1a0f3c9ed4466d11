"""Whether another database connection can lock a row right now: how a test sees which rows a
transaction still open in the test's own connection holds. PostgreSQL only (SQLite locks the
whole file, not rows)."""

from __future__ import annotations

import threading

import pytest
from django.db import DatabaseError, connection, models, transaction


def require_row_locks() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL (SQLite has none)")


def locked_elsewhere(model: type[models.Model], pk: int) -> bool:
    """True if the row is locked by another transaction (NOWAIT refused), False if this
    other connection could lock it."""
    outcome: list[bool] = []

    def attempt() -> None:
        try:
            with transaction.atomic():
                list(model._default_manager.select_for_update(nowait=True).filter(pk=pk))
            outcome.append(False)
        except DatabaseError:
            outcome.append(True)
        finally:
            connection.close()

    thread = threading.Thread(target=attempt, name="other-connection")
    thread.start()
    thread.join(timeout=30)
    assert outcome, "the other connection did not answer"
    return outcome[0]

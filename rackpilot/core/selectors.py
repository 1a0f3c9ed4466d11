"""Reads every app shares."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Count, Model, QuerySet


def counts_by_state(rows: QuerySet[Model], states: Iterable[str]) -> dict[str, int]:
    """How many of ``rows`` are in each of ``states`` (zero included), in one query."""
    counts = {str(state): 0 for state in states}
    for row in rows.values("state").annotate(n=Count("pk")).order_by():
        counts[row["state"]] = row["n"]
    return counts

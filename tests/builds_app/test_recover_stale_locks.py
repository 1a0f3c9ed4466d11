"""The stale-build sweep reads and locks only running builds past the heartbeat cutoff, and
skips one whose row is held (its task is beating or ending right now)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from builds.models import Build, BuildRecipe
from builds.services import lifecycle
from tests.builds_app.conftest import queue_one
from tests.db_locks import locked_elsewhere, require_row_locks

pytestmark = pytest.mark.django_db(transaction=True)


def running(recipe: BuildRecipe, *, heartbeat_minutes_ago: int) -> Build:
    build = queue_one(recipe)
    beat = timezone.now() - timedelta(minutes=heartbeat_minutes_ago)
    Build.objects.filter(pk=build.pk).update(state="running", started_at=beat, heartbeat_at=beat)
    return build


def test_the_sweep_locks_only_the_stale_builds(recipe: BuildRecipe) -> None:
    require_row_locks()
    stale = running(recipe, heartbeat_minutes_ago=10)
    alive = running(recipe, heartbeat_minutes_ago=0)
    with transaction.atomic():
        assert lifecycle.builds_recover_stale(minutes=5) == 1
        assert locked_elsewhere(Build, stale.pk)
        assert not locked_elsewhere(Build, alive.pk)
    assert Build.objects.get(pk=stale.pk).state == "failed"
    assert Build.objects.get(pk=alive.pk).state == "running"


def test_a_stale_build_whose_row_is_held_is_skipped_not_waited_for(recipe: BuildRecipe) -> None:
    require_row_locks()
    stale = running(recipe, heartbeat_minutes_ago=10)
    with transaction.atomic():
        # the build's own task holding its row (a heartbeat at this very moment)
        Build.objects.select_for_update().get(pk=stale.pk)
        swept = _in_another_connection(lambda: lifecycle.builds_recover_stale(minutes=5))
    assert swept == 0
    assert lifecycle.builds_recover_stale(minutes=5) == 1


def _in_another_connection(work: Callable[[], int]) -> int:
    result: list[int] = []

    def run() -> None:
        try:
            result.append(work())
        finally:
            connection.close()

    thread = threading.Thread(target=run, name="other-sweep")
    thread.start()
    thread.join(timeout=30)
    assert result, "the sweep did not finish: it waited on the held row"
    return result[0]

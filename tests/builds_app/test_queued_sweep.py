"""A build whose Celery message was lost stays queued forever: the beat sweep sends it once
more under the same task id, then fails it with a reason. A build waiting behind a running one
is not lost and is left alone."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from builds.models import Build, BuildRecipe
from builds.services import lifecycle
from builds.tasks import recover_stale
from rackpilot.core.models import Event
from tests.builds_app.conftest import SYSTEM, queue_one

pytestmark = pytest.mark.django_db


@pytest.fixture
def lost(recipe: BuildRecipe, enqueued: list[tuple[int, str]], settings: Any) -> Build:
    settings.BUILD_QUEUED_REQUEUE_SECONDS = 300
    build = queue_one(recipe)
    enqueued.clear()  # the message the broker "lost"
    return build


def test_a_build_queued_too_long_is_sent_again_under_its_task_id(
    lost: Build, enqueued: list[tuple[int, str]], django_capture_on_commit_callbacks: Any
) -> None:
    assert lifecycle.builds_requeue_queued(now=timezone.now()) == (0, 0)
    later = timezone.now() + timedelta(seconds=301)
    with django_capture_on_commit_callbacks(execute=True):
        assert lifecycle.builds_requeue_queued(now=later) == (1, 0)
    assert enqueued == [(lost.pk, lost.celery_task_id)]
    lost.refresh_from_db()
    assert (lost.state, lost.requeued_at) == ("queued", later)
    assert Event.objects.filter(verb="build.requeued").count() == 1
    assert lifecycle.builds_requeue_queued(now=later + timedelta(seconds=60)) == (0, 0)


def test_a_build_still_queued_after_the_resend_fails_with_the_reason(
    lost: Build, enqueued: list[tuple[int, str]]
) -> None:
    first = timezone.now() + timedelta(seconds=301)
    lifecycle.builds_requeue_queued(now=first)
    enqueued.clear()
    assert lifecycle.builds_requeue_queued(now=first + timedelta(seconds=301)) == (0, 1)
    assert enqueued == []
    lost.refresh_from_db()
    assert (lost.state, lost.error) == ("failed", lifecycle.NEVER_STARTED)


def test_a_build_waiting_behind_a_running_one_is_not_lost(
    lost: Build, recipe: BuildRecipe, enqueued: list[tuple[int, str]]
) -> None:
    running = queue_one(recipe, arch="aarch64")
    lifecycle.build_start(build_id=running.pk, actor=SYSTEM)
    later = timezone.now() + timedelta(seconds=1000)
    assert lifecycle.builds_requeue_queued(now=later) == (0, 0)
    lost.refresh_from_db()
    assert (lost.state, lost.requeued_at) == ("queued", None)


def test_the_beat_task_runs_the_sweep(lost: Build, settings: Any) -> None:
    settings.BUILD_QUEUED_REQUEUE_SECONDS = 0
    Build.objects.filter(pk=lost.pk).update(created_at=timezone.now() - timedelta(seconds=5))
    recover_stale()
    lost.refresh_from_db()
    assert lost.requeued_at is not None

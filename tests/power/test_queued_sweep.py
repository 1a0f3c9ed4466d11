"""A power job whose Celery message was lost stays queued forever and blocks the machine: the
beat sweep sends it once more, then fails it with a reason, never runs it a third time."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from inventory.models import PowerJob
from inventory.power import services
from inventory.power.tasks import fail_lost_power_jobs
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.factories import BMCFactory, MachineFactory

pytestmark = pytest.mark.django_db
OPERATOR = Actor.system("tests")


@pytest.fixture
def job(settings: Any, queued_power_jobs: list[int]) -> PowerJob:
    settings.POWER_JOB_QUEUED_REQUEUE_SECONDS = 120
    machine = MachineFactory(hostname="lost-01")
    BMCFactory(machine=machine)
    job = services.power_job_request(machine=machine, action="off", actor=OPERATOR)
    queued_power_jobs.clear()  # the message the broker "lost"
    return job


def test_a_job_queued_too_long_is_sent_once_more_after_the_commit(
    job: PowerJob, queued_power_jobs: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    assert services.power_jobs_requeue_queued(now=timezone.now()) == (0, 0)  # not overdue yet
    later = timezone.now() + timedelta(seconds=121)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.power_jobs_requeue_queued(now=later) == (1, 0)
        assert queued_power_jobs == []  # not before the commit
    assert queued_power_jobs == [job.pk]
    job.refresh_from_db()
    assert (job.state, job.requeued_at) == ("queued", later)
    assert Event.objects.filter(verb="power.requeued", object_id=str(job.pk)).count() == 1
    # The next sweep within the window leaves it alone: one re-send, not one a minute.
    assert services.power_jobs_requeue_queued(now=later + timedelta(seconds=60)) == (0, 0)


def test_a_job_still_queued_after_the_resend_fails_and_frees_the_machine(
    job: PowerJob, queued_power_jobs: list[int]
) -> None:
    first = timezone.now() + timedelta(seconds=121)
    services.power_jobs_requeue_queued(now=first)
    queued_power_jobs.clear()
    assert services.power_jobs_requeue_queued(now=first + timedelta(seconds=121)) == (0, 1)
    assert queued_power_jobs == []  # never sent a third time
    job.refresh_from_db()
    assert job.state == "failed"
    assert "never picked up by a worker" in job.error
    assert job.finished_at is not None
    again = services.power_job_request(machine=job.machine, action="on", actor=OPERATOR)
    assert again.state == "queued"


def test_a_job_a_worker_took_is_not_requeued(job: PowerJob) -> None:
    services.power_job_run(job_id=job.pk, run=lambda job: "off")
    later = timezone.now() + timedelta(seconds=1000)
    assert services.power_jobs_requeue_queued(now=later) == (0, 0)


def test_the_beat_task_runs_the_sweep(
    job: PowerJob, queued_power_jobs: list[int], settings: Any
) -> None:
    settings.POWER_JOB_QUEUED_REQUEUE_SECONDS = 0
    PowerJob.objects.filter(pk=job.pk).update(created_at=timezone.now() - timedelta(seconds=5))
    fail_lost_power_jobs()
    job.refresh_from_db()
    assert job.requeued_at is not None

"""The lost-power-job sweep reads and locks only jobs past POWER_JOB_LOST_SECONDS."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from inventory.models import PowerJob
from inventory.power import services
from tests.db_locks import locked_elsewhere, require_row_locks
from tests.factories import BMCFactory, MachineFactory

pytestmark = pytest.mark.django_db(transaction=True)


def job(hostname: str, *, age_seconds: int) -> PowerJob:
    machine = MachineFactory(hostname=hostname)
    BMCFactory(machine=machine)
    created = PowerJob.objects.create(machine=machine, action=PowerJob.Action.ON)
    PowerJob.objects.filter(pk=created.pk).update(
        created_at=timezone.now() - timedelta(seconds=age_seconds)
    )
    return created


def test_the_sweep_locks_only_the_lost_jobs(settings: Any) -> None:
    require_row_locks()
    settings.POWER_JOB_LOST_SECONDS = 600
    lost = job("lost-01", age_seconds=601)
    recent = job("recent-01", age_seconds=10)
    with transaction.atomic():
        assert services.power_jobs_fail_lost() == 1
        assert locked_elsewhere(PowerJob, lost.pk)
        assert not locked_elsewhere(PowerJob, recent.pk)
    assert PowerJob.objects.get(pk=lost.pk).state == "failed"
    assert PowerJob.objects.get(pk=recent.pk).state == "queued"

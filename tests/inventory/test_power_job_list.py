"""The power job list: every power command sent, across machines, filtered like the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import Machine, PowerJob
from inventory.states import PowerJobState
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db
URL = "dashboard:power-job-list"


def _job(machine: Machine, *, minutes_ago: int = 0, **fields: Any) -> PowerJob:
    """A power job as a worker leaves it; ``minutes_ago`` dates its request."""
    fields.setdefault("action", PowerJob.Action.ON)
    fields.setdefault("requested_by", "alice")
    job = PowerJob.objects.create(machine=machine, **fields)
    created = timezone.now() - timedelta(minutes=minutes_ago)
    PowerJob.objects.filter(pk=job.pk).update(created_at=created)
    job.refresh_from_db()
    return job


def _finished(machine: Machine, *, minutes_ago: int = 0, seconds: int = 12, **fields: Any) -> Any:
    started = timezone.now() - timedelta(minutes=minutes_ago)
    return _job(
        machine,
        minutes_ago=minutes_ago,
        started_at=started,
        finished_at=started + timedelta(seconds=seconds),
        **fields,
    )


def _rows(response: Any) -> list[int]:
    """Primary keys of the table's jobs, in order."""
    html = response.content.decode()
    return [int(chunk.split('"', 1)[0]) for chunk in html.split('<tr data-job="')[1:]]


def test_anonymous_visitors_are_sent_to_sign_in(client: Client):
    response = client.get(reverse(URL))
    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_a_viewer_sees_every_job_of_every_machine_newest_first(viewer_client: Client):
    # given jobs on two machines: one failed, one that booted into PXE, one still queued
    one, two = MachineFactory(hostname="pj-one"), MachineFactory(hostname="pj-two")
    failed = _finished(
        one,
        minutes_ago=30,
        action=PowerJob.Action.OFF,
        state=PowerJobState.FAILED,
        error="BMC refused: session limit",
        reason="rack move",
    )
    pxe = _finished(
        two,
        minutes_ago=20,
        seconds=42,
        action=PowerJob.Action.CYCLE,
        boot_device=PowerJob.BootDevice.PXE,
        state=PowerJobState.SUCCESS,
        power_state="on",
        requested_by="bob",
    )
    queued = _job(one, minutes_ago=1, action=PowerJob.Action.STATUS)
    # when a user without write permissions opens the list
    response = viewer_client.get(reverse(URL))
    # then every job shows, newest first, with its machine linked
    assert response.status_code == 200
    assert _rows(response) == [queued.pk, pxe.pk, failed.pk]
    html = response.content.decode()
    assert reverse("dashboard:machine-detail", args=[one.pk]) in html
    assert "pj-two" in html
    # and the command with its boot device, who asked, why, and how it ended
    assert "Power cycle" in html and "boot PXE once" in html
    assert "bob" in html and "rack move" in html
    assert '<span class="text-danger">BMC refused: session limit</span>' in html
    assert "reported on" in html
    assert "42 s" in html


def test_the_list_filters_by_state(viewer_client: Client):
    machine = MachineFactory()
    failed = _finished(machine, state=PowerJobState.FAILED, error="no route to BMC")
    succeeded = _finished(machine, minutes_ago=5, state=PowerJobState.SUCCESS, power_state="on")
    queued = _job(machine, minutes_ago=10)
    # one state chip
    response = viewer_client.get(reverse(URL), {"state": "failed"})
    assert _rows(response) == [failed.pk]
    # several chips together
    response = viewer_client.get(reverse(URL), {"state": ["success", "queued"]})
    assert _rows(response) == [succeeded.pk, queued.pk]
    # and the chips stay checked
    assert 'value="queued" id="filter-state-queued" autocomplete="off" checked' in (
        response.content.decode()
    )


def test_the_list_filters_by_machine_action_and_search(viewer_client: Client):
    one, two = MachineFactory(hostname="filter-one"), MachineFactory(hostname="filter-two")
    mine = _job(one, action=PowerJob.Action.RESET, reason="stuck in POST")
    other = _job(two, minutes_ago=1, action=PowerJob.Action.ON)
    assert _rows(viewer_client.get(reverse(URL), {"machine": "filter-one"})) == [mine.pk]
    assert _rows(viewer_client.get(reverse(URL), {"action": "on"})) == [other.pk]
    assert _rows(viewer_client.get(reverse(URL), {"q": "stuck"})) == [mine.pk]
    assert _rows(viewer_client.get(reverse(URL), {"machine": "nowhere"})) == []


def test_the_list_sorts_by_machine_and_by_finish(viewer_client: Client):
    beta, alpha = MachineFactory(hostname="sort-beta"), MachineFactory(hostname="sort-alpha")
    # finished nine and five minutes ago; the third one has not run yet
    older = _finished(beta, minutes_ago=10, seconds=60)
    newer = _finished(alpha, minutes_ago=5, seconds=1)
    queued = _job(alpha)
    # by hostname, then by request time
    assert _rows(viewer_client.get(reverse(URL), {"ordering": "machine"})) == [
        newer.pk,
        queued.pk,
        older.pk,
    ]
    # unfinished jobs go last either way
    assert _rows(viewer_client.get(reverse(URL), {"ordering": "-finished"})) == [
        newer.pk,
        older.pk,
        queued.pk,
    ]
    assert _rows(viewer_client.get(reverse(URL), {"ordering": "finished"})) == [
        older.pk,
        newer.pk,
        queued.pk,
    ]


def test_htmx_request_gets_only_the_table(viewer_client: Client):
    job = _job(MachineFactory(hostname="htmx-power"))
    response = viewer_client.get(reverse(URL), {"q": "htmx-power"}, headers={"HX-Request": "true"})
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="list-table"')
    assert "<html" not in html
    assert 'id="list-filter"' not in html
    assert _rows(response) == [job.pk]
    assert "HX-Request" in response["Vary"]


def _query_count(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse(URL))
    assert response.status_code == 200
    return len(queries)


def test_the_list_makes_as_many_queries_for_25_jobs_as_for_1(viewer_client: Client):
    # given one job, counted
    _finished(MachineFactory(), state=PowerJobState.SUCCESS, power_state="on")
    with_one = _query_count(viewer_client)
    # when 24 more exist, on other machines and in every state
    states = list(PowerJobState)
    for n in range(24):
        _finished(MachineFactory(), minutes_ago=n, state=states[n % len(states)], error="x")
    with_25 = _query_count(viewer_client)
    # then the page makes exactly as many queries
    assert with_25 == with_one


def test_the_machine_list_links_to_the_power_jobs(viewer_client: Client):
    response = viewer_client.get(reverse("dashboard:machine-list"))
    assert f'href="{reverse(URL)}"' in response.content.decode()

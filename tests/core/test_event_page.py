"""The Events page: the audit log with the API's filters (actor, verb, object, time), one query
count whatever the page holds, the table alone for HTMX."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from inventory import services
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.models import Event
from tests.factories import MachineFactory, SiteFactory

pytestmark = pytest.mark.django_db
ALICE = Actor.system("alice")


def _rows(html: str) -> int:
    return html.count("<tr data-event=")


def test_filters_by_actor_verb_object_and_time(viewer_client: Client) -> None:
    machine = MachineFactory(hostname="web-01")
    services.machine_update(machine=machine, actor=ALICE, allow_pxe=not machine.allow_pxe)
    record_event(actor=Actor.system("bob"), verb="site.updated", obj=SiteFactory())
    old = record_event(actor=ALICE, verb="machine.updated", obj=machine, machine=machine)
    Event.objects.filter(pk=old.pk).update(timestamp=timezone.now() - timedelta(days=3))

    def rows(query: str) -> int:
        answer = viewer_client.get(f"/events/?{query}")
        assert answer.status_code == 200
        return _rows(answer.content.decode())

    everything = Event.objects.count()
    assert rows("") == everything
    assert rows("actor_name=alice") == 2
    assert rows("verb_prefix=site.") == Event.objects.filter(verb__startswith="site.").count()
    assert rows("object_type=machine&actor_name=alice") == 2
    since = (timezone.now() - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    assert rows(f"actor_name=alice&since={since}") == 1
    assert rows("q=web-01") == Event.objects.filter(object_repr__icontains="web-01").count()
    page = viewer_client.get("/events/?actor_name=alice").content.decode()
    assert 'href="/machines/' in page and "web-01" in page


def test_a_bad_time_is_named_and_ignored(viewer_client: Client) -> None:
    record_event(actor=ALICE, verb="site.created", obj=SiteFactory())

    page = viewer_client.get("/events/?since=yesterday").content.decode()

    assert "Ignored filters: <strong>since</strong>" in page
    assert _rows(page) == Event.objects.count()


def test_the_query_count_does_not_grow_with_the_page(viewer_client: Client) -> None:
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert viewer_client.get("/events/").status_code == 200
        return len(captured)

    for _ in range(3):
        machine = MachineFactory()
        record_event(actor=ALICE, verb="machine.updated", obj=machine, machine=machine)
    few = queries()
    for _ in range(30):
        machine = MachineFactory()
        record_event(actor=ALICE, verb="machine.updated", obj=machine, machine=machine)

    assert queries() == few


def test_htmx_gets_the_table_and_anonymous_the_login(viewer_client: Client) -> None:
    record_event(actor=ALICE, verb="site.created", obj=SiteFactory())

    fragment = viewer_client.get("/events/", HTTP_HX_REQUEST="true").content.decode()

    assert fragment.lstrip().startswith('<div id="list-table"')
    assert Client().get("/events/").status_code == 302

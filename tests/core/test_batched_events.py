"""``batched_events()``: several events written as one INSERT inside the caller's transaction,
published only once it commits, and gone with it when it rolls back."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import transaction

from rackpilot.core import events
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("tests")


@pytest.fixture
def published(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, dict[str, Any]]]:
    sent: list[tuple[str, dict[str, Any]]] = []
    monkeypatch.setattr(events, "publish", lambda group, message: sent.append((group, message)))
    monkeypatch.setattr(events, "publish_many", sent.extend)
    return sent


def test_one_insert_then_published_after_the_commit(
    published: list[tuple[str, dict[str, Any]]], django_assert_num_queries: Any
):
    machine = MachineFactory()
    ContentType.objects.get_for_model(machine)  # cached from here on, as in a running server
    with transaction.atomic():
        with django_assert_num_queries(1), events.batched_events():
            first = events.record_event(
                actor=ACTOR, verb="test.first", obj=machine, machine=machine
            )
            events.record_event(actor=ACTOR, verb="test.second", machine=machine)
            assert first.pk is None  # written when the block ends
        assert first.pk is not None
        assert published == []  # not before the commit
    verbs = [message["event"]["verb"] for _, message in published]
    assert verbs == ["test.first", "test.second"]
    stored = Event.objects.filter(verb__startswith="test.").order_by("id")
    assert [(event.verb, event.machine_id) for event in stored] == [
        ("test.first", machine.pk),
        ("test.second", machine.pk),
    ]
    assert published[0][1]["event"]["id"] == stored[0].pk


def test_rolled_back_with_the_caller(published: list[tuple[str, dict[str, Any]]]):
    def failing_service() -> None:
        with transaction.atomic(), events.batched_events():
            events.record_event(actor=ACTOR, verb="test.lost")
            raise RuntimeError("the service failed")

    with pytest.raises(RuntimeError):
        failing_service()
    assert not Event.objects.filter(verb="test.lost").exists()
    assert published == []


def test_a_nested_block_leaves_the_writing_to_the_outer_one(
    published: list[tuple[str, dict[str, Any]]],
):
    with transaction.atomic(), events.batched_events():
        events.record_event(actor=ACTOR, verb="test.outer")
        with events.batched_events():
            events.record_event(actor=ACTOR, verb="test.inner")
        assert not Event.objects.filter(verb__startswith="test.").exists()
    assert list(
        Event.objects.filter(verb__startswith="test.").values_list("verb", flat=True).order_by("id")
    ) == [
        "test.outer",
        "test.inner",
    ]

"""Events record that a secret field changed, never its value."""

from __future__ import annotations

import json

import pytest
from rest_framework.test import APIClient

from inventory import services
from rackpilot.core.actors import Actor
from rackpilot.core.events import HIDDEN_VALUE
from rackpilot.core.models import Event
from tests.factories import MachineFactory

pytestmark = pytest.mark.django_db
OLD = "#cloud-config\npassword: hunter2-old\n"
NEW = "#cloud-config\npassword: hunter2-new\n"


def _events_text() -> str:
    return json.dumps(list(Event.objects.values("changes", "message")))


def test_a_user_data_change_is_recorded_without_either_value(actor: Actor):
    machine = MachineFactory(user_data=OLD)

    services.machine_update(machine=machine, actor=actor, user_data=NEW, vendor_data="v-secret")

    event = Event.objects.filter(verb="machine.updated").latest("pk")
    assert event.changes["user_data"] == [HIDDEN_VALUE, f"{HIDDEN_VALUE}, changed"]
    assert event.changes["vendor_data"] == [HIDDEN_VALUE, f"{HIDDEN_VALUE}, changed"]
    assert "hunter2" not in _events_text()
    assert "v-secret" not in _events_text()


def test_an_unchanged_secret_is_not_reported_as_changed(actor: Actor):
    machine = MachineFactory(user_data=OLD)
    services.machine_update(machine=machine, actor=actor, user_data=OLD, description="moved")
    event = Event.objects.filter(verb="machine.updated").latest("pk")
    assert "user_data" not in event.changes
    assert "description" in event.changes


def test_creating_a_machine_with_secrets_over_the_api_keeps_them_out_of_events(api: APIClient):
    response = api.post(
        "/api/v1/machines/",
        {"hostname": "sec-01", "user_data": NEW, "ipxe_script": "#!ipxe\nset token s3cr3t\n"},
        format="json",
    )
    assert response.status_code == 201, response.content
    text = _events_text()
    assert "hunter2" not in text
    assert "s3cr3t" not in text

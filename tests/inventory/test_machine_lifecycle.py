"""The machine transition table, exercised through the service (and the API's 409)."""

from __future__ import annotations

import pytest

from inventory import services
from inventory.states import MACHINE_TRANSITIONS, MachineState, MachineStateViolation
from rackpilot.core.models import Event
from tests.factories import MachineFactory

S = MachineState
ALLOWED = [
    (S.DISCOVERED, S.READY),
    (S.READY, S.PROVISIONING),
    (S.PROVISIONING, S.PROVISIONED),
    (S.PROVISIONING, S.FAILED),
    (S.PROVISIONED, S.DEPROVISIONING),
    (S.DEPROVISIONING, S.READY),
    (S.DEPROVISIONING, S.FAILED),
    (S.FAILED, S.READY),
] + [(state, S.RETIRED) for state in S if state != S.RETIRED]

ALL_PAIRS = [(a, b) for a in S for b in S if a != b]
REFUSED = [pair for pair in ALL_PAIRS if pair not in ALLOWED]

pytestmark = pytest.mark.django_db


def test_the_table_is_exactly_the_designed_lifecycle():
    designed = {(a, b) for a, b in ALLOWED}
    table = {(a, b) for a, targets in MACHINE_TRANSITIONS.items() for b in targets} | {
        (a, S.RETIRED) for a in S if a != S.RETIRED
    }
    assert table == designed


@pytest.mark.parametrize(("current", "target"), ALLOWED)
def test_allowed_transition_changes_state_and_records_event(actor, current, target):
    machine = MachineFactory(state=current)

    services.machine_transition(machine=machine, actor=actor, target=target, reason="testing")

    machine.refresh_from_db()
    assert machine.state == target
    event = Event.objects.get(verb="machine.state_changed", machine=machine)
    assert event.changes == {"state": [current, target]}
    assert event.message == "testing"


@pytest.mark.parametrize(("current", "target"), REFUSED)
def test_refused_transition_raises_named_error_and_changes_nothing(actor, current, target):
    machine = MachineFactory(state=current)

    with pytest.raises(MachineStateViolation) as excinfo:
        services.machine_transition(machine=machine, actor=actor, target=target)

    machine.refresh_from_db()
    assert machine.state == current
    assert excinfo.value.current == current
    assert excinfo.value.target == target
    assert not Event.objects.filter(verb="machine.state_changed").exists()


def test_retired_is_terminal(actor):
    machine = MachineFactory(state=S.RETIRED)
    for target in S:
        if target == S.RETIRED:
            continue
        with pytest.raises(MachineStateViolation):
            services.machine_transition(machine=machine, actor=actor, target=target)


def test_api_answers_409_on_a_refused_transition(api):
    machine = MachineFactory(state=S.READY)

    response = api.post(
        f"/api/v1/machines/{machine.pk}/transition/", {"state": S.PROVISIONED}, format="json"
    )

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "machine_state_violation"
    assert body["current"] == "ready"
    assert body["requested"] == "provisioned"
    assert body["allowed"] == ["provisioning", "retired"]
    machine.refresh_from_db()
    assert machine.state == S.READY


def test_api_moves_state_on_an_allowed_transition(api):
    machine = MachineFactory(state=S.FAILED)

    response = api.post(
        f"/api/v1/machines/{machine.pk}/transition/",
        {"state": "ready", "reason": "disk replaced"},
        format="json",
    )

    assert response.status_code == 200
    assert response.json()["state"] == "ready"


def test_api_refuses_an_unknown_state_with_400(api):
    machine = MachineFactory()
    response = api.post(f"/api/v1/machines/{machine.pk}/transition/", {"state": "melted"})
    assert response.status_code == 400
    assert "state" in response.json()


def test_state_cannot_be_changed_by_a_plain_update(api):
    machine = MachineFactory(state=S.READY)

    response = api.patch(f"/api/v1/machines/{machine.pk}/", {"state": "discovered"}, format="json")

    assert response.status_code == 400
    assert "transition" in response.json()["state"][0]
    machine.refresh_from_db()
    assert machine.state == S.READY

"""Power for many machines at once: POST /api/v1/machines/power/ with the machine list's filters."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from inventory.models import BMC, PowerJob
from inventory.power import services
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, MachineFactory, RackFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def rack() -> Any:
    rack = RackFactory(name="R07")
    for position, hostname in enumerate(["r07-a", "r07-b", "r07-c", "r07-d"], start=1):
        machine = MachineFactory(hostname=hostname, rack=rack, position=position * 2)
        if hostname != "r07-c":  # no BMC
            BMCFactory(machine=machine)
    MachineFactory(hostname="elsewhere")
    return rack


def test_every_machine_that_can_be_cycled_is_and_the_rest_say_why(
    api: APIClient, rack: Any, queued_power_jobs: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    busy = services.power_job_request(
        machine=rack.machines.get(hostname="r07-d"), action="on", actor=Actor.system("tests")
    )

    with django_capture_on_commit_callbacks(execute=True):
        response = api.post(
            "/api/v1/machines/power/",
            {"filter": {"rack": "R07"}, "action": "cycle", "boot_device": "pxe", "reason": "rack"},
            format="json",
        )

    assert response.status_code == 202, response.content
    body = response.json()
    assert [job["machine_hostname"] for job in body["queued"]] == ["r07-a", "r07-b"]
    assert {job["boot_device"] for job in body["queued"]} == {"pxe"}
    assert [r["machine"] for r in body["refused"]] == ["r07-c", "r07-d"]
    assert "has no BMC" in body["refused"][0]["reason"]
    assert f"{busy} on r07-d is still queued" in body["refused"][1]["reason"]
    assert len(queued_power_jobs) == 2  # handed to Celery once the request committed
    assert not PowerJob.objects.filter(machine__hostname="elsewhere").exists()


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"filter": {}, "action": "off"}, "filter"),
        ({"filter": {"rack": "nope"}, "action": "off"}, "filter"),
        ({"filter": {"state": ["sleeping"]}, "action": "off"}, "filter"),
        ({"filter": {"rack": "R07"}, "action": "explode"}, "action"),
    ],
)
def test_bad_bulk_requests_name_the_field_and_queue_nothing(
    api: APIClient, rack: Any, queued_power_jobs: list[int], payload: dict[str, Any], field: str
) -> None:
    response = api.post("/api/v1/machines/power/", payload, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not PowerJob.objects.exists()


def test_a_viewer_cannot_power_anything(rack: Any, viewer: Any) -> None:
    client = APIClient()
    client.force_authenticate(viewer)
    response = client.post(
        "/api/v1/machines/power/", {"filter": {"rack": "R07"}, "action": "off"}, format="json"
    )
    assert response.status_code == 403
    assert not PowerJob.objects.exists()


def test_machines_filter_by_power_state_for_the_list_and_for_bulk_requests(
    api: APIClient, rack: Any
) -> None:
    for hostname, state in [("r07-a", "on"), ("r07-b", "off"), ("r07-d", "unknown")]:
        BMC.objects.filter(machine__hostname=hostname).update(power_state=state)
    response = api.get("/api/v1/machines/", {"power_state": ["off", "unknown"]})
    assert sorted(m["hostname"] for m in response.json()["results"]) == ["r07-b", "r07-d"]
    bad = api.get("/api/v1/machines/", {"power_state": "asleep"})
    assert bad.status_code == 400
    assert "power_state" in bad.json()

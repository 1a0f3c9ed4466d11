"""Bulk commands over the API select machines by the machine list's filters, and a mistake
selects nothing: an unknown key, an empty list, a blank value or no filter at all is a 400
naming the key, and a confirmed selection that changed is a 409."""

from __future__ import annotations

from typing import Any

import pytest
from rest_framework.test import APIClient

from inventory.models import PowerJob
from tests.factories import BMCFactory, MachineFactory, RackFactory, SiteFactory
from tests.workflows.factories import TemplateFactory
from workflows.models import Workflow

pytestmark = pytest.mark.django_db
POWER = "/api/v1/machines/power/"
SELECT = "/api/v1/machines/select/"
BULK = "/api/v1/workflows/bulk/"


@pytest.fixture
def fleet() -> list[Any]:
    """Three machines with BMCs in rack R07 of ams1, one more elsewhere."""
    rack = RackFactory(name="R07", site=SiteFactory(slug="ams1"))
    machines = [
        MachineFactory(hostname=f"r7-{n}", rack=rack, position=n, state="ready")
        for n in range(1, 4)
    ]
    machines.append(MachineFactory(hostname="other", state="ready"))
    for machine in machines:
        BMCFactory(machine=machine)
    return machines


@pytest.mark.parametrize(
    ("body", "key"),
    [
        ({"filter": {"racks": "R07"}}, "racks"),  # a typo of "rack"
        ({"filter": {"state": []}}, "state"),
        ({"filter": {"q": ""}}, "q"),
        ({"filter": {"q": "   "}}, "q"),
        ({"filter": {"rack": None}}, "rack"),
        ({"filter": {"rack": {"name": "R07"}}}, "rack"),
    ],
)
@pytest.mark.parametrize("url", [POWER, BULK])
def test_a_filter_mistake_is_a_400_naming_the_key_and_nothing_runs(
    api: APIClient, fleet: list[Any], queued_power_jobs: list[int], url: str, body: dict, key: str
):
    TemplateFactory(name="ubuntu")
    response = api.post(url, {**body, "action": "off", "template": "ubuntu"}, format="json")
    assert response.status_code == 400, response.content
    assert key in response.json()["filter"]
    assert not PowerJob.objects.exists()
    assert not Workflow.objects.exists()


@pytest.mark.parametrize("url", [POWER, BULK])
@pytest.mark.parametrize("body", [{}, {"filter": {}}, {"filter": {}, "all": False}])
def test_an_empty_filter_selects_nothing(
    api: APIClient, fleet: list[Any], queued_power_jobs: list[int], url: str, body: dict
):
    TemplateFactory(name="ubuntu")
    response = api.post(url, {**body, "action": "off", "template": "ubuntu"}, format="json")
    assert response.status_code == 400
    assert "An empty filter selects nothing" in str(response.json()["filter"])
    assert not PowerJob.objects.exists()
    assert not Workflow.objects.exists()


def test_all_selects_every_machine_only_when_said(
    api: APIClient, fleet: list[Any], queued_power_jobs: list[int]
):
    response = api.post(POWER, {"all": True, "action": "status"}, format="json")
    assert response.status_code == 202
    assert response.json()["selected"]["count"] == 4
    assert PowerJob.objects.count() == 4


def test_all_with_a_filter_is_a_contradiction(api: APIClient, fleet: list[Any]):
    response = api.post(SELECT, {"all": True, "filter": {"rack": "R07"}}, format="json")
    assert response.status_code == 400
    assert "all" in response.json()


def test_the_preview_and_the_command_name_the_same_machines(
    api: APIClient, fleet: list[Any], queued_power_jobs: list[int]
):
    preview = api.post(SELECT, {"filter": {"rack": "R07"}}, format="json").json()
    assert preview["count"] == 3
    assert [m["hostname"] for m in preview["machines"]] == ["r7-1", "r7-2", "r7-3"]

    response = api.post(
        POWER,
        {"filter": {"rack": "R07"}, "action": "off", "selection": preview["selection"]},
        format="json",
    )

    assert response.status_code == 202
    assert response.json()["selected"] == preview
    assert sorted(j.machine.hostname for j in PowerJob.objects.all()) == ["r7-1", "r7-2", "r7-3"]


@pytest.mark.parametrize("url", [POWER, BULK])
def test_a_confirmed_selection_that_changed_is_a_409_and_nothing_runs(
    api: APIClient, fleet: list[Any], queued_power_jobs: list[int], url: str
):
    TemplateFactory(name="ubuntu")
    preview = api.post(SELECT, {"filter": {"rack": "R07"}}, format="json").json()
    # a machine joins the rack after the operator looked
    BMCFactory(machine=MachineFactory(hostname="r7-late", rack=fleet[0].rack, position=20))

    response = api.post(
        url,
        {
            "filter": {"rack": "R07"},
            "action": "off",
            "template": "ubuntu",
            "selection": preview["selection"],
        },
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["code"] == "selection_changed"
    assert response.json()["count"] == 4
    assert not PowerJob.objects.exists()
    assert not Workflow.objects.exists()

"""Global search: a MAC, an IP, a hostname or #N lands on its object; partial matches list by
kind, only from what the user may read; Ctrl+K in a real browser."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from tests.factories import MachineFactory, NetworkInterfaceFactory, RackFactory, UserFactory
from workflows.models import Template

pytestmark = pytest.mark.django_db


@pytest.fixture
def fleet() -> dict[str, Any]:
    web = MachineFactory(hostname="web-01", serial_number="SN-4711")
    MachineFactory(hostname="web-02")
    nic = NetworkInterfaceFactory(machine=web, mac="52:54:00:12:34:56", ip="10.20.0.5", name="eno1")
    return {"web": web, "nic": nic, "rack": RackFactory(name="AMS-R07")}


@pytest.mark.parametrize(
    "query",
    ["52:54:00:12:34:56", "52-54-00-12-34-56", "525400123456", "10.20.0.5", "web-01", "sn-4711"],
)
def test_a_query_naming_one_machine_opens_it(viewer_client: Client, fleet, query: str) -> None:
    answer = viewer_client.get("/search/", {"q": query})

    assert answer.status_code == 302
    assert answer["Location"] == f"/machines/{fleet['web'].pk}/"


def test_partial_queries_list_hits_by_kind(viewer_client: Client, fleet) -> None:
    Template.objects.create(name="web-install", body="x")

    page = viewer_client.get("/search/", {"q": "web"}).content.decode()

    assert 'data-kind="Machine"' in page and 'data-kind="Template"' in page
    assert "web-01" in page and "web-02" in page and "web-install" in page
    partial = viewer_client.get("/search/", {"q": "12:34"}).content.decode()
    assert "52:54:00:12:34:56 on eno1" in partial
    assert "Nothing matches" in viewer_client.get("/search/", {"q": "zzz"}).content.decode()


def test_what_a_user_may_not_read_is_not_found(client: Client, fleet) -> None:
    nobody = UserFactory(username="nobody")  # signed in, no role
    client.force_login(nobody)

    answer = client.get("/search/", {"q": "web-01"})

    assert answer.status_code == 200
    assert f'href="/machines/{fleet["web"].pk}/"' not in answer.content.decode()
    assert "Nothing matches" in answer.content.decode()
    assert Client().get("/search/", {"q": "web"}).status_code == 302  # anonymous: the login


def test_workflow_numbers_open_the_workflow(viewer_client: Client) -> None:
    from tests.workflows.factories import failed_workflow

    workflow = failed_workflow()

    answer = viewer_client.get("/search/", {"q": f"#{workflow.pk}"})

    assert answer["Location"] == f"/workflows/{workflow.pk}/"

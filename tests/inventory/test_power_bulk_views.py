"""The bulk power page: one command for every machine the machine list's filter selects."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import Machine, PowerJob
from inventory.power import services
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, MachineFactory, RackFactory, SiteFactory

pytestmark = pytest.mark.django_db
URL = reverse("dashboard:machine-power-bulk")
QUERY = "site=ams1"


def _rack(count: int = 3, *, without_bmc: tuple[int, ...] = (2,)) -> list[Machine]:
    """Machines pw-01.. in a rack of site ams1; the ones numbered in ``without_bmc`` have none."""
    rack = RackFactory(site=SiteFactory(slug="ams1"))
    machines = []
    for n in range(1, count + 1):
        machine = MachineFactory(hostname=f"pw-{n:02d}", rack=rack, position=n)
        if n not in without_bmc:
            BMCFactory(machine=machine)
        machines.append(machine)
    return machines


def _confirmed(client: Client, url: str) -> str:
    """The selection digest the page shows, as its form sends it back."""
    found = re.search(r'name="selection" value="([0-9a-f]+)"', client.get(url).content.decode())
    assert found is not None
    return found.group(1)


def _rows(html: str, table: str) -> dict[str, str]:
    """hostname -> the row's HTML, for the rows of the table with this id."""
    body = re.search(rf'<table [^>]*id="{table}".*?</table>', html, re.DOTALL)
    assert body is not None, table
    rows = re.findall(r'<tr data-hostname="([^"]+)"[^>]*>(.*?)</tr>', body.group(0), re.DOTALL)
    return dict(rows)


# --- the page before sending -----------------------------------------------------------------


def test_the_page_counts_the_filtered_machines_and_those_with_a_bmc(operator_client: Client):
    # given three machines in ams1 (one without a BMC) and one elsewhere
    _rack()
    BMCFactory(machine=MachineFactory(hostname="elsewhere"))

    response = operator_client.get(f"{URL}?{QUERY}")

    assert response.status_code == 200
    html = response.content.decode()
    assert "Power command for 3 machines" in html
    assert 'data-machines="3" data-with-bmc="2"' in html
    assert "<strong>2</strong> of 3 have a BMC" in html
    rows = _rows(html, "power-bulk-machines")
    assert list(rows) == ["pw-01", "pw-02", "pw-03"]
    assert "no BMC" in rows["pw-02"]
    # the destructive commands are confirmed, with the count
    button = re.search(r'<button [^>]*id="power-bulk-submit".*?</button>', html, re.DOTALL)
    assert button is not None
    assert 'data-rp-confirm="Send this power command to 2 machines?' in button.group(0)
    assert "Send to 2 machines" in button.group(0)


def test_the_page_marks_a_machine_with_a_command_running(
    operator_client: Client, queued_power_jobs: list[int]
):
    machine = _rack(1, without_bmc=())[0]
    services.power_job_request(machine=machine, action="status", actor=Actor.system("tests"))
    html = operator_client.get(f"{URL}?{QUERY}").content.decode()
    assert "still running" in _rows(html, "power-bulk-machines")["pw-01"]


@pytest.mark.parametrize("query", ["", "?q=&site=&ordering=hostname&page=2"])
def test_without_a_filter_nothing_is_offered_nor_sent(
    operator_client: Client, query: str, queued_power_jobs: list[int]
):
    # given machines, and no filter (or only empty and paging parameters): that is every machine
    _rack()

    response = operator_client.get(URL + query)
    assert response.status_code == 400
    html = response.content.decode()
    assert "An empty filter selects nothing" in html
    assert 'id="power-bulk-select-all"' in html
    assert 'id="power-bulk-form"' not in html

    response = operator_client.post(URL + query, {"action": "off"})
    assert response.status_code == 400
    assert not PowerJob.objects.exists()


def test_an_invalid_filter_is_refused(operator_client: Client):
    response = operator_client.get(f"{URL}?rack_id=abc")
    assert response.status_code == 400
    assert "The machine filter cannot be used (rack_id: Enter a whole number.)" in (
        response.content.decode()
    )


def test_a_typo_in_a_filter_key_is_refused_not_ignored(
    operator_client: Client, queued_power_jobs: list[int]
):
    # given machines; "racks" is not a filter (the filter is "rack")
    _rack()
    response = operator_client.post(f"{URL}?racks=R07", {"action": "off", "selection": ""})
    assert response.status_code == 400
    assert "racks: Unknown filter" in response.content.decode()
    assert not PowerJob.objects.exists()


def test_every_machine_only_when_asked_for(operator_client: Client):
    _rack()
    BMCFactory(machine=MachineFactory(hostname="elsewhere"))
    html = operator_client.get(f"{URL}?all=true").content.decode()
    assert "<strong>Every machine</strong>" in html
    assert list(_rows(html, "power-bulk-machines")) == ["elsewhere", "pw-01", "pw-02", "pw-03"]


def test_a_selection_that_changed_after_the_page_was_shown_sends_nothing(
    operator_client: Client, queued_power_jobs: list[int]
):
    # given the page shown for the two machines of ams1 that have a BMC...
    _rack(2, without_bmc=())
    confirmed = _confirmed(operator_client, f"{URL}?{QUERY}")
    # ...and a third machine that joins the rack before the operator confirms
    MachineFactory(hostname="pw-late", rack=Machine.objects.first().rack, position=30)

    response = operator_client.post(f"{URL}?{QUERY}", {"action": "off", "selection": confirmed})

    assert response.status_code == 409
    html = response.content.decode()
    assert "Nothing was sent" in html
    assert "pw-late" in _rows(html, "power-bulk-machines")
    assert not PowerJob.objects.exists()


# --- sending ---------------------------------------------------------------------------------


def test_post_queues_a_job_per_machine_with_a_bmc_and_lists_the_refused(
    operator_client: Client,
    queued_power_jobs: list[int],
    django_capture_on_commit_callbacks: Callable[..., Any],
):
    # given three machines in ams1, pw-02 without a BMC, and one elsewhere that is left alone
    machines = _rack()
    BMCFactory(machine=MachineFactory(hostname="elsewhere"))

    with django_capture_on_commit_callbacks(execute=True):
        response = operator_client.post(
            f"{URL}?{QUERY}",
            {
                "action": "cycle",
                "boot_device": "pxe",
                "reason": "rack move",
                "selection": _confirmed(operator_client, f"{URL}?{QUERY}"),
            },
        )

    assert response.status_code == 200
    jobs = list(PowerJob.objects.order_by("machine__hostname"))
    assert [job.machine.hostname for job in jobs] == ["pw-01", "pw-03"]
    assert all(job.action == "cycle" and job.boot_device == "pxe" for job in jobs)
    assert all(job.reason == "rack move" and job.requested_by == "operator" for job in jobs)
    assert sorted(queued_power_jobs) == sorted(job.pk for job in jobs)

    html = response.content.decode()
    assert "2 power jobs queued; 1 machine refused." in html
    queued = _rows(html, "power-bulk-queued")
    assert list(queued) == ["pw-01", "pw-03"]
    assert reverse("dashboard:machine-detail", args=[machines[0].pk]) in queued["pw-01"]
    assert "Power cycle" in queued["pw-01"]
    assert "boot PXE once" in queued["pw-01"]
    refused = _rows(html, "power-bulk-refused")
    assert list(refused) == ["pw-02"]
    assert "pw-02 has no BMC" in refused["pw-02"]
    assert f'href="{reverse("dashboard:machine-list")}?{QUERY}" id="power-bulk-back"' in html


def test_a_machine_with_a_command_running_is_refused_the_others_are_not(
    operator_client: Client, queued_power_jobs: list[int]
):
    first, second = _rack(2, without_bmc=())
    services.power_job_request(machine=first, action="status", actor=Actor.system("tests"))

    response = operator_client.post(
        f"{URL}?{QUERY}",
        {"action": "on", "selection": _confirmed(operator_client, f"{URL}?{QUERY}")},
    )

    html = response.content.decode()
    assert "1 power job queued; 1 machine refused." in html
    assert "still queued" in _rows(html, "power-bulk-refused")["pw-01"]
    assert second.power_jobs.get().action == "on"


def test_a_persistent_boot_device_needs_a_boot_device(operator_client: Client):
    _rack()
    response = operator_client.post(
        f"{URL}?{QUERY}",
        {
            "action": "on",
            "persistent": "on",
            "selection": _confirmed(operator_client, f"{URL}?{QUERY}"),
        },
    )
    assert response.status_code == 400
    assert "Choose a boot device to keep" in response.content.decode()
    assert not PowerJob.objects.exists()


def test_an_unknown_action_is_a_form_error(operator_client: Client):
    _rack()
    response = operator_client.post(
        f"{URL}?{QUERY}",
        {"action": "explode", "selection": _confirmed(operator_client, f"{URL}?{QUERY}")},
    )
    assert response.status_code == 400
    assert "is-invalid" in response.content.decode()
    assert not PowerJob.objects.exists()


def test_a_viewer_may_look_but_not_send(viewer_client: Client):
    _rack()
    html = viewer_client.get(f"{URL}?{QUERY}").content.decode()
    assert 'id="power-bulk-form"' not in html
    assert 'id="power-bulk-read-only"' in html

    response = viewer_client.post(f"{URL}?{QUERY}", {"action": "off"})

    assert response.status_code == 403
    assert not PowerJob.objects.exists()


def test_signed_out_users_are_sent_to_sign_in(client: Client):
    response = client.get(f"{URL}?{QUERY}")
    assert response.status_code == 302


# --- the machine list's button ---------------------------------------------------------------


def test_the_machine_list_offers_power_with_its_filter(operator_client: Client):
    _rack()
    html = operator_client.get(reverse("dashboard:machine-list"), {"site": "ams1"}).content
    link = re.search(r'<a [^>]*id="bulk-power".*?</a>', html.decode(), re.DOTALL)
    assert link is not None
    # shown and kept in step with the filter by the same script as the bulk start
    assert f'data-rp-bulk-start="{URL}"' in link.group(0)
    assert f'href="{URL}?site=ams1"' in link.group(0)
    assert "Power…" in link.group(0)


def test_the_machine_list_has_no_power_button_for_a_viewer(viewer_client: Client):
    _rack()
    html = viewer_client.get(reverse("dashboard:machine-list"), {"site": "ams1"}).content
    assert 'id="bulk-power"' not in html.decode()


# --- queries ---------------------------------------------------------------------------------


def _queries(client: Client) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"{URL}?{QUERY}").status_code == 200
    return len(queries)


def test_the_page_makes_the_same_number_of_queries_for_1_and_20_machines(
    operator_client: Client, queued_power_jobs: list[int]
):
    machines = _rack(1)
    operator_client.get(f"{URL}?{QUERY}")  # session and permission caches warm
    one = _queries(operator_client)
    rack = machines[0].rack
    for n in range(2, 21):
        machine = MachineFactory(hostname=f"pw-{n:02d}", rack=rack, position=n)
        if n % 2:
            BMCFactory(machine=machine)
    services.power_job_request(machine=machines[0], action="on", actor=Actor.system("tests"))
    assert _queries(operator_client) == one

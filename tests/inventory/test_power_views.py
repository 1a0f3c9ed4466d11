"""The Power card of the machine page: who sees the buttons, what a click queues, what refuses."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import Machine, PowerJob
from inventory.power import services
from inventory.power.drivers import PowerError
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, MachineFactory

pytestmark = pytest.mark.django_db
TESTS = Actor.system("tests")


@pytest.fixture
def machine() -> Machine:
    machine = MachineFactory(hostname="pw-01")
    BMCFactory(machine=machine)
    return machine


def _power_card(client: Client, machine: Machine) -> str:
    """The Power card as the machine page shows it (the page has other buttons)."""
    response = client.get(reverse("dashboard:machine-detail", args=[machine.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    start = html.index('id="power"')
    return html[start : html.index("</section>", start)]


def _post(client: Client, machine: Machine, **data: str) -> Any:
    return client.post(reverse("dashboard:machine-power", args=[machine.pk]), data, follow=True)


def _messages(response: Any) -> list[str]:
    return [str(message) for message in response.context["messages"]]


def _failed_job(machine: Machine, error: str) -> PowerJob:
    job = services.power_job_request(machine=machine, action="on", actor=TESTS)

    def refuse(job: PowerJob) -> str:
        raise PowerError(error)

    finished = services.power_job_run(job_id=job.pk, run=refuse)
    assert finished is not None
    return finished


# --- what the card shows ---------------------------------------------------------------------


def test_an_operator_sees_every_power_button(operator_client: Client, machine: Machine):
    html = _power_card(operator_client, machine)
    for label in (
        "Power on",
        "Power off",
        "Soft off",
        "Power cycle",
        "Reset",
        "Boot into PXE",
        "Refresh state",
    ):
        assert label in html, label
    # the ones that lose work ask first
    assert html.count("data-rp-confirm=") == 4
    assert "Power off pw-01?" in html


def test_a_viewer_sees_the_power_state_but_no_buttons(viewer_client: Client, machine: Machine):
    html = _power_card(viewer_client, machine)
    assert 'id="power-state"' in html
    assert 'name="action"' not in html
    assert "not send power commands" in html


def test_a_machine_without_a_bmc_says_why_there_are_no_buttons(operator_client: Client):
    machine = MachineFactory(hostname="nobmc-01")
    html = _power_card(operator_client, machine)
    assert "has no BMC" in html
    assert 'name="action"' not in html


def test_the_card_shows_a_failed_jobs_error(
    operator_client: Client, machine: Machine, queued_power_jobs
):
    _failed_job(machine, "Redfish said 401: bad credentials")
    response = operator_client.get(reverse("dashboard:machine-power-card", args=[machine.pk]))
    assert response.status_code == 200
    html = response.content.decode()
    assert "Redfish said 401: bad credentials" in html
    assert 'data-state="failed"' in html
    # nothing is running: the card does not poll
    assert "hx-trigger" not in html
    assert 'data-polling="false"' in html


def test_the_card_polls_while_a_job_is_active_and_disables_the_buttons(
    operator_client: Client, machine: Machine, queued_power_jobs
):
    services.power_job_request(machine=machine, action="off", actor=TESTS)
    response = operator_client.get(reverse("dashboard:machine-power-card", args=[machine.pk]))
    html = response.content.decode()
    assert 'hx-trigger="every 2s"' in html
    assert reverse("dashboard:machine-power-card", args=[machine.pk]) in html
    # every button: seven power commands and, the BMC speaking Redfish, "Read inventory"
    assert html.count(" disabled") == 8


def test_the_card_lists_only_the_last_five_jobs(operator_client: Client, machine: Machine):
    PowerJob.objects.bulk_create(
        PowerJob(machine=machine, action="status", state="success") for _ in range(7)
    )
    html = _power_card(operator_client, machine)
    assert html.count('<tr data-job="') == 5


# --- commands --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "action", "boot_device", "message"),
    [
        ({"action": "cycle"}, "cycle", "", "Power cycle queued for pw-01."),
        ({"action": "off"}, "off", "", "Power off queued for pw-01."),
        ({"action": "status"}, "status", "", "Read power state queued for pw-01."),
        (
            {"action": "cycle", "boot_device": "pxe"},
            "cycle",
            "pxe",
            "Power cycle into PXE queued for pw-01.",
        ),
    ],
)
def test_a_button_queues_a_power_job(
    operator_client: Client,
    machine: Machine,
    queued_power_jobs: list[int],
    django_capture_on_commit_callbacks: Any,
    data: dict[str, str],
    action: str,
    boot_device: str,
    message: str,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = _post(operator_client, machine, **data)
    assert response.redirect_chain == [
        (reverse("dashboard:machine-detail", args=[machine.pk]), 302)
    ]
    job = PowerJob.objects.get(machine=machine)
    assert (job.action, job.boot_device, job.persistent, job.state) == (
        action,
        boot_device,
        False,
        "queued",
    )
    assert job.requested_by == "operator"
    assert queued_power_jobs == [job.pk]
    assert _messages(response) == [message]


def test_a_second_command_while_one_is_running_is_refused(
    operator_client: Client, machine: Machine, queued_power_jobs: list[int]
):
    first = services.power_job_request(machine=machine, action="cycle", actor=TESTS)
    response = _post(operator_client, machine, action="off")
    [message] = _messages(response)
    assert "is still queued; wait for it to finish" in message
    assert list(PowerJob.objects.filter(machine=machine)) == [first]


def test_a_machine_without_a_bmc_refuses_a_command(
    operator_client: Client, queued_power_jobs: list[int]
):
    machine = MachineFactory(hostname="nobmc-01")
    response = _post(operator_client, machine, action="on")
    assert _messages(response) == ["nobmc-01 has no BMC to send power commands to."]
    assert not PowerJob.objects.exists()


def test_an_unknown_action_is_refused(operator_client: Client, machine: Machine, queued_power_jobs):
    response = _post(operator_client, machine, action="explode")
    [message] = _messages(response)
    assert "Unknown power action 'explode'" in message
    assert not PowerJob.objects.exists()


def test_a_viewer_may_not_send_commands(viewer_client: Client, machine: Machine, queued_power_jobs):
    response = viewer_client.post(
        reverse("dashboard:machine-power", args=[machine.pk]), {"action": "on"}
    )
    assert response.status_code == 403
    assert not PowerJob.objects.exists()


def test_the_power_pages_send_anonymous_visitors_to_sign_in(client: Client, machine: Machine):
    for url in (
        reverse("dashboard:machine-power-card", args=[machine.pk]),
        reverse("dashboard:machine-power", args=[machine.pk]),
    ):
        response = client.post(url) if url.endswith("/power/") else client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_the_command_endpoint_takes_only_post(operator_client: Client, machine: Machine):
    response = operator_client.get(reverse("dashboard:machine-power", args=[machine.pk]))
    assert response.status_code == 405


# --- query counts ----------------------------------------------------------------------------


def _query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("url_name", ["dashboard:machine-detail", "dashboard:machine-power-card"])
def test_the_page_makes_as_many_queries_for_10_power_jobs_as_for_1(
    operator_client: Client, machine: Machine, queued_power_jobs, url_name: str
):
    url = reverse(url_name, args=[machine.pk])
    _failed_job(machine, "BMC unreachable")
    with_one = _query_count(operator_client, url)
    PowerJob.objects.bulk_create(
        PowerJob(machine=machine, action="status", state="success", power_state="on")
        for _ in range(9)
    )
    with_ten = _query_count(operator_client, url)
    assert with_ten == with_one


def test_power_jobs_are_in_the_navigation(operator_client: Client):
    html = operator_client.get(reverse("dashboard:home")).content.decode()

    link = f'href="{reverse("dashboard:power-job-list")}">Power jobs</a>'
    assert link in html
    page = operator_client.get(reverse("dashboard:power-job-list")).content.decode()
    assert 'active" href="/power-jobs/">Power jobs' in page

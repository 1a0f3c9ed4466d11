"""Power commands as an operator sends them: a real Chromium, the card polling itself."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone
from playwright.sync_api import Dialog, Page, expect

from inventory.models import BMC, PowerJob
from inventory.power import services
from inventory.power.drivers import PowerError
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, MachineFactory, RackFactory, SiteFactory
from tests.live_server import call_in_thread

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TESTS = Actor.system("tests")


def _refuse(job: PowerJob) -> str:
    raise PowerError("Redfish said 401 Unauthorized: check the BMC's username and password")


def test_a_power_command_finishes_on_the_card_without_a_reload(
    signed_in_page: Page, live_server: Any, screenshot: Any, monkeypatch: pytest.MonkeyPatch
):
    # No broker in this test: the test runs each job itself, standing in for the worker.
    monkeypatch.setattr(services, "enqueue_power_job", lambda job_id: None)
    page = signed_in_page
    rack = RackFactory(site=SiteFactory(name="Amsterdam 1", slug="ams1"), name="R07")
    machine = MachineFactory(hostname="web-01", rack=rack, position=12)
    BMCFactory(
        machine=machine,
        power_state=BMC.PowerState.ON,
        power_state_at=timezone.now() - timedelta(minutes=3),
    )
    # given an earlier command the BMC refused
    earlier = services.power_job_request(machine=machine, action="on", actor=TESTS)
    call_in_thread(services.power_job_run, job_id=earlier.pk, run=_refuse)

    page.goto(f"{live_server.url}/machines/{machine.pk}/")
    card = page.locator("#power")
    expect(card.locator("#power-state")).to_contain_text("On")
    expect(card.locator("#power-state-at")).to_contain_text("checked")
    expect(card.locator("#power-jobs tbody tr")).to_have_count(1)
    expect(card.locator("#power-jobs")).to_contain_text("401 Unauthorized")
    expect(card).to_have_attribute("data-polling", "false")
    card.scroll_into_view_if_needed()
    screenshot("power-card")

    # when the operator powers the machine off, and confirms
    dialogs: list[str] = []

    def accept(dialog: Dialog) -> None:
        dialogs.append(dialog.message)
        dialog.accept()

    page.on("dialog", accept)
    card.get_by_role("button", name="Power off").click()

    # then the job is queued, the card polls and the buttons wait for it
    expect(page.get_by_role("alert")).to_contain_text("Power off queued for web-01.")
    assert dialogs and dialogs[0].startswith("Power off web-01?")
    rows = card.locator("#power-jobs tbody tr")
    expect(rows).to_have_count(2)
    expect(rows.first).to_have_attribute("data-state", "queued")
    expect(card).to_have_attribute("data-polling", "true")
    expect(card.get_by_role("button", name="Power on")).to_be_disabled()
    expect(card.locator("#power-active")).to_contain_text("Power off queued")
    card.scroll_into_view_if_needed()
    screenshot("power-card-queued")
    # a marker that a full page load would wipe out
    page.evaluate("window.rpSamePage = true")

    # when the worker's run ends with the BMC reporting the machine off
    job = PowerJob.objects.filter(machine=machine).latest("created_at")
    assert (job.action, job.state, job.requested_by) == ("off", "queued", "operator")
    call_in_thread(services.power_job_run, job_id=job.pk, run=lambda job: "off")

    # then the card shows it by itself, in the same page, and stops polling
    expect(rows.first).to_have_attribute("data-state", "success", timeout=8_000)
    expect(rows.first).to_contain_text("Success")
    expect(card.locator("#power-state")).to_contain_text("Off")
    expect(card.locator("#power-state-at")).to_contain_text(re.compile(r"checked .*now|second"))
    expect(card).to_have_attribute("data-polling", "false")
    expect(card.get_by_role("button", name="Power on")).to_be_enabled()
    assert page.evaluate("window.rpSamePage") is True
    card.scroll_into_view_if_needed()
    screenshot("power-card-done")


def test_the_power_job_list_shows_every_machines_jobs(
    signed_in_page: Page, live_server: Any, screenshot: Any, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(services, "enqueue_power_job", lambda job_id: None)
    for hostname in ("web-01", "web-02"):
        machine = MachineFactory(hostname=hostname)
        BMCFactory(machine=machine)
        refused = services.power_job_request(machine=machine, action="cycle", actor=TESTS)
        call_in_thread(services.power_job_run, job_id=refused.pk, run=_refuse)
        done = services.power_job_request(
            machine=machine, action="on", actor=TESTS, boot_device="pxe"
        )
        call_in_thread(services.power_job_run, job_id=done.pk, run=lambda job: "on")

    signed_in_page.goto(f"{live_server.url}/power-jobs/")

    expect(signed_in_page.locator("table tbody tr")).to_have_count(4)
    expect(signed_in_page.locator("table")).to_contain_text("401 Unauthorized")
    screenshot("power-job-list")

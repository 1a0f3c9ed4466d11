"""The lists at fleet scale in a real browser: ticked rows to a bulk command, columns chosen
and remembered, and the CSV export following the filter."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from inventory.models import Machine
from tests.factories import RackFactory, SiteFactory
from tests.workflows.factories import TemplateFactory, provisionable_machine
from workflows.models import Workflow

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _fleet() -> dict[str, Machine]:
    rack = RackFactory(site=SiteFactory(name="Amsterdam 1", slug="ams1"), name="R07")
    return {
        hostname: provisionable_machine(hostname=hostname, rack=rack, position=position)
        for position, hostname in enumerate(("db-01", "db-02", "web-01", "web-02"), start=1)
    }


def _tick(page: Page, hostname: str) -> None:
    page.locator(f'tr[data-hostname="{hostname}"] [data-rp-select]').check()


def test_two_ticked_machines_get_a_workflow_through_the_bulk_page(
    signed_in_page: Page, live_server, screenshot
):
    # given four ready machines and a template
    machines = _fleet()
    template = TemplateFactory(name="ubuntu-jammy")
    page = signed_in_page
    page.goto(live_server.url + "/machines/")
    bar = page.locator("#bulk-bar")
    expect(bar).to_be_hidden()

    # when the operator ticks two rows
    _tick(page, "db-02")
    _tick(page, "web-01")

    # then the bulk bar counts them and its commands name exactly those machines
    expect(bar).to_be_visible()
    expect(bar.locator("[data-rp-selected]")).to_have_text("2 selected")
    ids = sorted((machines["db-02"].pk, machines["web-01"].pk))
    expect(page.locator("#bulk-action-workflow")).to_have_attribute(
        "href", f"/workflows/bulk/?id={ids[0]}&id={ids[1]}"
    )
    screenshot("fleet-list-two-ticked")

    # when they start a workflow on them through the bulk page
    page.locator("#bulk-action-workflow").click()
    expect(page.get_by_role("heading", name="Start a workflow on 2 machines")).to_be_visible()
    expect(page.locator("#bulk-machines tbody tr")).to_have_count(2)
    page.get_by_label("Template").select_option(label=template.name)
    screenshot("fleet-list-bulk-workflow")
    page.get_by_role("button", name="Start on 2 machines").click()

    # then each of the two, and no other machine, has a workflow
    expect(page.locator("#bulk-summary")).to_have_class(re.compile("alert-success"))
    expect(page.locator("#bulk-created tbody tr")).to_have_count(2)
    started = Workflow.objects.filter(template=template)
    assert sorted(started.values_list("machine__hostname", flat=True)) == ["db-02", "web-01"]
    screenshot("fleet-list-bulk-workflow-done")


def test_ticked_machines_lose_pxe_after_the_confirm_page(
    signed_in_page: Page, live_server, screenshot
):
    _fleet()
    page = signed_in_page
    page.on("dialog", lambda dialog: dialog.accept())
    page.goto(live_server.url + "/machines/")
    _tick(page, "web-01")
    _tick(page, "web-02")
    page.locator("#bulk-action-pxe-deny").click()

    expect(page.get_by_role("heading", name="Deny PXE: 2 machines")).to_be_visible()
    expect(page.locator("#machine-bulk-selection")).to_have_text(re.compile(r"^[0-9a-f]{24}$"))
    screenshot("fleet-list-deny-pxe")
    page.locator("#machine-bulk-submit").click()

    expect(page.locator("#machine-bulk-summary")).to_contain_text("PXE denied: 2 machines")
    denied = Machine.objects.filter(allow_pxe=False).values_list("hostname", flat=True)
    assert sorted(denied) == ["web-01", "web-02"]


def test_select_all_on_the_page_then_all_matching(signed_in_page: Page, live_server):
    _fleet()
    page = signed_in_page
    page.goto(live_server.url + "/machines/?q=web")
    page.locator("[data-rp-select-page]").check()
    expect(page.locator("#bulk-bar [data-rp-selected]")).to_have_text("2 selected")
    # every row of the filter fits on the page: no "all matching" offer
    expect(page.locator("[data-rp-select-matching]")).to_be_hidden()
    page.locator("[data-rp-select-none]").click()
    expect(page.locator("#bulk-bar")).to_be_hidden()


def test_a_hidden_column_stays_hidden_after_a_reload_and_on_the_next_visit(
    signed_in_page: Page, live_server, screenshot
):
    _fleet()
    page = signed_in_page
    page.goto(live_server.url + "/machines/")
    headers = page.locator("#machine-table thead th")
    expect(headers.filter(has_text="Boot MAC")).to_have_count(1)

    # when the operator unticks Boot MAC in the Columns menu
    page.get_by_role("button", name="Columns").click()
    page.get_by_label("Boot MAC column").uncheck()
    screenshot("fleet-list-columns-menu", full_page=False)

    # then the table no longer has it, and the URL says so
    expect(headers.filter(has_text="Boot MAC")).to_have_count(0)
    expect(page).to_have_url(re.compile(r"columns=[^&]*hostname"))
    assert "mac" not in page.url.split("columns=", 1)[1]

    # and a reload keeps it hidden (rendered so by the server)
    page.reload()
    expect(headers.filter(has_text="Boot MAC")).to_have_count(0)
    expect(headers.filter(has_text="IP")).to_have_count(1)

    # and so does the next visit without the choice in the URL (remembered by the browser)
    page.goto(live_server.url + "/machines/")
    expect(headers.filter(has_text="Boot MAC")).to_have_count(0)
    screenshot("fleet-list-without-mac")


def test_the_export_link_follows_the_filter(signed_in_page: Page, live_server):
    _fleet()
    page = signed_in_page
    page.goto(live_server.url + "/machines/")
    export = page.locator("#export-csv")
    expect(export).to_have_attribute("href", "/machines/export.csv")

    page.get_by_label("Search", exact=True).press_sequentially("web", delay=30)
    expect(page.locator("#machine-table tbody tr")).to_have_count(2)
    expect(export).to_have_attribute("href", "/machines/export.csv?q=web")

    # and the file it names holds the filtered machines
    with page.expect_download() as download:
        export.click()
    text = open(download.value.path()).read()  # noqa: SIM115
    assert "web-01" in text and "web-02" in text and "db-01" not in text

"""Building the inventory from the dashboard, in a real Chromium: a site, its rack, a machine
placed from a free unit of the rack's elevation, and the machine's parts."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import ConsoleMessage, Page, Response, expect

from inventory.models import BMC, Machine, Site
from tests.factories import MachineFactory, RackFactory, SiteFactory

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _failed(response: Response) -> bool:
    """A resource that did not load; a refused form answering 400 is the page working."""
    refused_form = response.status == 400 and response.request.method == "POST"
    return response.status >= 400 and not refused_form


@pytest.fixture
def console_errors(signed_in_page: Page) -> list[str]:
    """Script errors, errors the pages log, and resources that failed to load."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every failed load, the 400 of a refused form and the favicon the
        # project does not have included, without naming it: responses are checked below.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            errors.append(message.text)

    signed_in_page.on("console", on_console)
    signed_in_page.on("pageerror", lambda exc: errors.append(str(exc)))
    signed_in_page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}") if _failed(response) else None
        ),
    )
    return errors


def test_a_machine_created_from_a_free_unit_stands_in_the_elevation(
    signed_in_page: Page, live_server, screenshot, console_errors
):
    # given a site with two racks, one holding a 2U machine at U10-U11
    site = SiteFactory(name="Amsterdam 1", slug="ams1")
    rack = RackFactory(site=site, name="R07", u_height=24)
    RackFactory(site=site, name="R08", u_height=24)
    MachineFactory(hostname="db-01", rack=rack, position=10, u_height=2)
    page = signed_in_page

    # when the operator opens the site from the sites list
    page.goto(f"{live_server.url}/sites/")
    page.get_by_role("link", name="Amsterdam 1").click()
    expect(page.get_by_role("heading", name="Site Amsterdam 1")).to_be_visible()
    elevation = page.locator(f"#rack-elevation-{rack.pk}")
    expect(elevation.locator('[data-unit="11"]')).to_contain_text("db-01")
    expect(page.locator(".rp-site-rack")).to_have_count(2)
    screenshot("site-elevations")

    # and clicks the free unit U5 of R07
    elevation.locator('[data-unit="5"]').click()
    expect(page.get_by_role("heading", name="New machine")).to_be_visible()
    expect(page.get_by_label(re.compile(r"^Rack\b"))).to_have_value(str(rack.pk))
    expect(page.get_by_label("Position")).to_have_value("5")

    # and first asks for a place the 2U machine there holds
    page.get_by_label("Hostname").fill("web-05")
    page.get_by_label("Position").fill("11")
    page.get_by_role("button", name="Create machine").click()
    # then the refusal is under the position, and nothing was created
    position_error = page.locator('.invalid-feedback[data-field="position"]')
    expect(position_error).to_contain_text("overlaps db-01 (U10-U11)")
    expect(page.get_by_label("Position")).to_have_class(re.compile("is-invalid"))
    screenshot("machine-form-refused")
    assert not Machine.objects.filter(hostname="web-05").exists()

    # when it is placed at U5, 2U tall
    page.get_by_label("Position").fill("5")
    page.get_by_label("Height (U)").fill("2")
    page.get_by_role("button", name="Create machine").click()
    # then its page opens
    expect(page.get_by_role("heading", name="web-05")).to_be_visible()
    expect(page.locator(".alert-success")).to_contain_text("Machine web-05 created.")

    # and the rack's elevation draws it over U5-U6
    page.get_by_role("link", name="rack R07").click()
    rack_elevation = page.locator("#rack-elevation")
    expect(rack_elevation.locator('[data-unit="6"]')).to_contain_text("web-05")
    expect(rack_elevation.locator('[data-unit="5"]')).to_have_count(0)
    screenshot("rack-elevation-new-machine")
    assert console_errors == [], console_errors


def test_a_site_a_rack_and_a_machine_s_parts_from_the_dashboard(
    signed_in_page: Page, live_server, screenshot, console_errors
):
    page = signed_in_page
    # when the operator creates a site from the sites list
    page.goto(f"{live_server.url}/sites/")
    page.get_by_role("link", name="New site").click()
    page.get_by_label("Name").fill("Frankfurt 2")
    page.get_by_label("Facility code").fill("fra2")
    screenshot("site-form")
    page.get_by_role("button", name="Create site").click()
    # then its page says it has no racks yet, and offers a new one in this site
    expect(page.get_by_role("heading", name="Site Frankfurt 2")).to_be_visible()
    expect(page.get_by_text("This site has no racks yet.")).to_be_visible()
    page.locator("#new-rack").click()
    expect(page.get_by_label("Site")).to_have_value(str(Site.objects.get().pk))
    page.get_by_label("Name").fill("A01")
    page.get_by_label("Height (U)").fill("12")
    page.get_by_role("button", name="Create rack").click()
    expect(page.get_by_role("heading", name="Rack A01")).to_be_visible()

    # when a machine in it gets an interface and a BMC from its page
    page.locator('#rack-elevation [data-unit="1"]').click()
    page.get_by_label("Hostname").fill("edge-01")
    page.get_by_role("button", name="Create machine").click()
    page.locator("#add-interface").click()
    expect(page.get_by_label("Boot interface")).to_be_checked()  # its first
    page.get_by_label("MAC address").fill("52-54-00-0A-0B-0C")
    page.get_by_role("button", name="Add interface").click()
    expect(page.locator("#interfaces")).to_contain_text("52:54:00:0a:0b:0c")
    page.locator("#add-bmc").click()
    page.get_by_label("Address").fill("10.9.0.7")
    page.get_by_label("Password").fill("bmc-pass-123")
    page.get_by_role("button", name="Add BMC").click()
    # then the page shows a password is set, never the password
    expect(page.locator("#bmc")).to_contain_text("password set")
    assert "bmc-pass-123" not in page.content()
    page.locator("#edit-bmc").click()
    expect(page.get_by_label("Password")).to_have_value("")
    screenshot("bmc-form")
    assert BMC.objects.get().get_password() == "bmc-pass-123"
    assert console_errors == [], console_errors

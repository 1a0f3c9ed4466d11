"""The dashboard as an operator uses it: a real Chromium, real HTMX, the live server."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from inventory import services
from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.factories import (
    BMCFactory,
    DiskFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    SiteFactory,
    TagFactory,
)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _rack_with_machines():
    site = SiteFactory(name="Amsterdam 1", slug="ams1")
    rack = RackFactory(site=site, name="R07", u_height=24)
    gpu = TagFactory(name="gpu", color="6f42c1")
    placed = [
        ("db-01", 20, 2, Machine.State.PROVISIONED),
        ("db-02", 18, 2, Machine.State.PROVISIONING),
        ("web-01", 12, 1, Machine.State.READY),
        ("web-02", 11, 1, Machine.State.FAILED),
        ("gpu-01", 4, 4, Machine.State.DISCOVERED),
    ]
    machines = {}
    for hostname, position, height, state in placed:
        machine = MachineFactory(
            hostname=hostname, rack=rack, position=position, u_height=height, state=state
        )
        NetworkInterfaceFactory(machine=machine)
        BMCFactory(machine=machine)
        machines[hostname] = machine
    machines["gpu-01"].tags.add(gpu)
    # Something for the dashboard's recent events.
    services.machine_update(
        machine=machines["web-02"], actor=Actor.system("tests"), description="PSU fault"
    )
    machines["spare-01"] = MachineFactory(hostname="spare-01", rack=rack, position=None)
    return rack, machines


def test_login_leads_to_the_dashboard(page: Page, live_server, operator, screenshot):
    # given a fleet and an operator who is not signed in
    _rack_with_machines()
    # when they open Rackpilot, they are asked to sign in
    page.goto(live_server.url + "/")
    expect(page).to_have_url(re.compile(r"/accounts/login/\?next=/$"))
    screenshot("login")
    page.get_by_label("Username").fill("operator")
    page.get_by_label("Password").fill("correct-horse-battery")
    page.get_by_role("button", name="Sign in").click()
    # then the dashboard shows machine counts per state, sites and recent events
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.locator('[data-state="ready"] .rp-count')).to_have_text("2")
    expect(page.locator('[data-state="failed"] .rp-count')).to_have_text("1")
    expect(page.get_by_role("cell", name="Amsterdam 1")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_hidden()  # inside the user menu
    screenshot("dashboard")
    # and a state card opens the machine list filtered on that state
    page.locator('[data-state="failed"]').click()
    expect(page).to_have_url(re.compile(r"/machines/\?state=failed$"))
    expect(page.locator("#machine-table tbody tr")).to_have_count(1)


def test_search_narrows_the_machine_table_without_reloading_the_page(
    signed_in_page: Page, live_server, screenshot
):
    # given a fleet and the machine list
    _rack_with_machines()
    page = signed_in_page
    page.goto(live_server.url + "/machines/")
    rows = page.locator("#machine-table tbody tr")
    expect(rows).to_have_count(6)
    screenshot("machine-list")
    # a marker that a full page load would wipe out
    page.evaluate("window.rpSamePage = true")

    # when the operator types in the search box
    page.get_by_label("Search", exact=True).press_sequentially("web-", delay=30)

    # then the table narrows to the matching machines, in the same page
    expect(rows).to_have_count(2)
    expect(rows.first).to_contain_text("web-01")
    assert page.evaluate("window.rpSamePage") is True
    # and the address bar carries the filter (and only the non-empty fields)
    expect(page).to_have_url(re.compile(r"/machines/\?q=web-$"))

    # when a state is toggled too
    page.locator("label[for=filter-state-failed]").click()
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("web-02")
    expect(page).to_have_url(re.compile(r"q=web-&state=failed$"))

    # and when the search is cleared and the table is sorted by hostname, descending
    page.get_by_label("Search", exact=True).fill("")
    page.locator("label[for=filter-state-failed]").click()
    expect(rows).to_have_count(6)
    page.get_by_role("link", name="Hostname").click()
    expect(page).to_have_url(re.compile(r"\?ordering=hostname$"))
    expect(rows.first).to_contain_text("db-01")
    page.get_by_role("link", name="Hostname").click()
    expect(page).to_have_url(re.compile(r"\?ordering=-hostname$"))
    expect(rows.first).to_contain_text("web-02")
    assert page.evaluate("window.rpSamePage") is True
    screenshot("machine-list-sorted")

    # and a reload keeps the sort
    page.reload()
    expect(rows.first).to_contain_text("web-02")


def test_machine_detail_shows_its_parts_and_moves_it_along_the_lifecycle(
    signed_in_page: Page, live_server, screenshot
):
    # given a ready machine with interfaces, disks, a BMC and agent-reported hardware
    rack = RackFactory(site=SiteFactory(name="Frankfurt 2"), name="F12")
    machine = MachineFactory(
        hostname="compute-17",
        rack=rack,
        position=17,
        u_height=2,
        serial_number="CZJ93107KX",
        hardware={"cpu": {"model": "AMD EPYC 7443P", "cores": 24}, "memory_bytes": 274877906944},
    )
    NetworkInterfaceFactory(machine=machine, name="eno1", mac="b8:ce:f6:10:20:30")
    NetworkInterfaceFactory(machine=machine, name="eno2", mac="b8:ce:f6:10:20:31", is_boot=False)
    DiskFactory(machine=machine, device="/dev/nvme0n1", size_bytes=1_920_383_410_176)
    DiskFactory(machine=machine, device="/dev/sda", size_bytes=480_103_981_056)
    BMCFactory(machine=machine, address="10.99.3.17", password="never-shown-3")
    machine.tags.add(TagFactory(name="compute"))
    page = signed_in_page

    # when its page is opened
    page.goto(f"{live_server.url}/machines/{machine.pk}/")

    # then interfaces, disks and the BMC are there, without the password
    expect(page.locator("#interfaces")).to_contain_text("b8:ce:f6:10:20:30")
    expect(page.locator("#interfaces")).to_contain_text("eno2")
    expect(page.locator("#disks")).to_contain_text("1.92 TB")
    expect(page.locator("#disks")).to_contain_text("480 GB")
    expect(page.locator("#bmc")).to_contain_text("10.99.3.17")
    expect(page.locator("#bmc")).to_contain_text("password set")
    assert "never-shown-3" not in page.content()
    expect(page.locator("#machine-state")).to_have_text("Ready")
    page.get_by_role("button", name="Hardware reported by the agent").click()
    expect(page.locator("#hardware-json")).to_contain_text("AMD EPYC 7443P")
    expect(page.locator("#hardware-json")).to_have_class(re.compile(r"\bshow\b"))  # opened
    screenshot("machine-detail")

    # when the operator moves it to provisioning
    page.locator("#transitions").get_by_role("button", name="Provisioning").click()

    # then the page says so, shows the new state and its next moves, and records the change
    expect(page.get_by_role("alert")).to_contain_text("compute-17 is now Provisioning.")
    expect(page.locator("#machine-state")).to_have_text("Provisioning")
    expect(page.locator("#transitions").get_by_role("button", name="Provisioned")).to_be_visible()
    expect(page.locator("#timeline")).to_contain_text("state: ready → provisioning")
    machine.refresh_from_db()
    assert machine.state == Machine.State.PROVISIONING
    screenshot("machine-detail-after-transition")


def test_rack_elevation_draws_each_machine_at_its_units(
    signed_in_page: Page, live_server, screenshot
):
    # given a rack holding machines of several heights and states, and one without a position
    rack, machines = _rack_with_machines()
    page = signed_in_page

    # when it is picked from the rack list
    page.goto(f"{live_server.url}/racks/")
    expect(page.locator("#list-table")).to_contain_text("10/24U")
    screenshot("rack-list")
    page.get_by_role("link", name=rack.name).click()

    # then every placed machine is drawn, linking to its page
    elevation = page.locator("#rack-elevation")
    for hostname in ("db-01", "db-02", "web-01", "web-02", "gpu-01"):
        link = elevation.get_by_role("link", name=re.compile(hostname))
        expect(link).to_have_attribute("href", f"/machines/{machines[hostname].pk}/")
    # and a 4U machine is four times as tall as a 1U one, with its top at U7
    one_u = elevation.get_by_role("link", name=re.compile("web-01")).bounding_box()
    four_u = elevation.get_by_role("link", name=re.compile("gpu-01")).bounding_box()
    assert one_u and four_u
    assert four_u["height"] == pytest.approx(4 * one_u["height"], abs=2)
    expect(elevation.locator('[data-unit="7"]')).to_contain_text("gpu-01")
    # and all 24 units are labelled
    expect(elevation.locator(".rp-rack-labels > div")).to_have_count(24)
    # and the machine without a position is listed beside the rack
    expect(page.locator("#unracked")).to_contain_text("spare-01")
    screenshot("rack-elevation")

    # when a machine is clicked, its page opens
    elevation.get_by_role("link", name=re.compile("web-02")).click()
    expect(page.get_by_role("heading", name="web-02")).to_be_visible()

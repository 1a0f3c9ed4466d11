"""Discovery as an operator uses it: a real Chromium, the live server, accepting a machine."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission
from playwright.sync_api import Page, expect

from inventory.models import Machine
from netboot import discovery
from rackpilot.core.actors import Actor
from tests.factories import MachineFactory, RackFactory, SiteFactory, TagFactory
from tests.netboot.test_discovery_views import GiB, discovered_machine
from tests.workflows.conftest import TWO_ACTIONS
from workflows.services.templates import template_create

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

TESTS = Actor.system("tests")


@pytest.fixture
def operator(operator):
    """The inventory operator, who may also manage discovery rules."""
    operator.user_permissions.add(*Permission.objects.filter(content_type__app_label="netboot"))
    return operator


def _waiting_fleet() -> dict[str, Machine]:
    template = template_create(actor=TESTS, name="ubuntu-noble", body=TWO_ACTIONS)
    discovery.discovery_rule_create(
        actor=TESTS,
        name="qemu-lab",
        priority=10,
        template=template,
        description="Lab VMs get Ubuntu without anyone clicking.",
        conditions="# QEMU test machines with at least 8 GiB and two disks\n"
        "dmi.sys_vendor = QEMU\nmemory_bytes >= 8G\ndisks.count >= 2\nmac ~ ^52:54:00:",
        disable_pxe_on_success=True,
    )
    discovery.discovery_rule_create(
        actor=TESTS,
        name="dell-storage",
        priority=50,
        template=template,
        enabled=False,
        conditions="dmi.sys_vendor = Dell Inc.\ndisks.total_bytes >= 10T",
    )
    return {
        "lab": discovered_machine("52:54:00:de:ad:01"),
        "small": discovered_machine("52:54:00:de:ad:02", memory=4 * GiB, disks=1),
        "dell": discovered_machine("52:54:00:be:ef:03", vendor="Dell Inc.", memory=256 * GiB),
    }


def test_accept_a_discovered_machine_through_the_pages(
    signed_in_page: Page, live_server, screenshot
):
    page = signed_in_page
    machines = _waiting_fleet()
    rack = RackFactory(site=SiteFactory(name="Amsterdam 1", slug="ams1"), name="R07")
    MachineFactory(hostname="db-01", rack=rack, position=10)
    TagFactory(name="lab")

    # given the operator opens Discovery from the navigation
    page.goto(live_server.url + "/")
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Discovery").click()
    expect(page).to_have_url(re.compile(r"/discovery/$"))
    rows = page.locator("#discovered-table tbody tr")
    expect(rows).to_have_count(3)
    lab_row = page.locator(f'tr[data-hostname="{machines["lab"].hostname}"]')
    expect(lab_row).to_contain_text("52:54:00:de:ad:01")
    expect(lab_row).to_contain_text("16 GiB")
    expect(lab_row).to_contain_text("qemu-lab")
    expect(page.locator(f'tr[data-hostname="{machines["small"].hostname}"]')).to_contain_text(
        "none"
    )
    expect(page.locator("#rule-table tbody tr")).to_have_count(2)
    screenshot("discovery-page")

    # the search narrows the table in place
    page.get_by_placeholder("Hostname, MAC, serial").fill("beef")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("52:54:00:be:ef:03")
    page.get_by_placeholder("Hostname, MAC, serial").fill("")
    expect(rows).to_have_count(3)

    # the rule's page shows its conditions and a dry run over the waiting machines
    page.locator("#rule-table").get_by_role("link", name="qemu-lab").click()
    expect(page.get_by_role("heading", name="qemu-lab")).to_be_visible()
    expect(page.locator("#condition-table tbody tr")).to_have_count(4)
    expect(page.locator("#match-table tbody tr")).to_have_count(1)
    expect(page.locator("#match-table")).to_contain_text(machines["lab"].hostname)
    expect(page.locator("#miss-table")).to_contain_text("line 3: memory_bytes >= 8G")
    screenshot("discovery-rule-detail")

    # when the operator accepts the lab machine into a place that is taken
    page.get_by_role("link", name="Discovery").first.click()
    lab_row.get_by_role("link", name="Accept").click()
    page.get_by_label("Hostname").fill("lab-01")
    page.get_by_label("Rack").select_option(label="Amsterdam 1 / R07")
    page.get_by_label("Position").fill("10")
    page.get_by_label("Tags").select_option(label="lab")
    page.get_by_role("button", name="Accept machine").click()

    # then the clash shows on the position field and the machine is still waiting
    expect(page.locator('.invalid-feedback[data-field="position"]')).to_contain_text(
        "overlaps db-01"
    )
    expect(page.get_by_label("Position")).to_have_class(re.compile(r"\bis-invalid\b"))
    expect(page.get_by_label("Hostname")).to_have_value("lab-01")
    machines["lab"].refresh_from_db()
    assert machines["lab"].state == "discovered"
    screenshot("discovery-accept-error")

    # when they choose a free unit
    page.get_by_label("Position").fill("12")
    page.get_by_role("button", name="Accept machine").click()

    # then the machine's page shows it ready, in the rack, with the message
    expect(page).to_have_url(re.compile(rf"/machines/{machines['lab'].pk}/$"))
    expect(page.get_by_role("alert")).to_contain_text("lab-01 accepted into the fleet")
    expect(page.locator("#machine-state")).to_have_text("Ready")
    expect(page.get_by_role("heading", name="lab-01")).to_be_visible()
    machines["lab"].refresh_from_db()
    assert (machines["lab"].state, machines["lab"].position) == ("ready", 12)
    screenshot("discovery-accepted-machine")

    # and two machines are left waiting
    page.goto(live_server.url + "/discovery/")
    expect(rows).to_have_count(2)


def test_a_rule_with_a_bad_line_is_shown_with_its_line(
    signed_in_page: Page, live_server, screenshot
):
    page = signed_in_page
    _waiting_fleet()
    page.goto(live_server.url + "/discovery/")
    page.get_by_role("link", name="New rule").click()
    page.get_by_label("Name").fill("gpu-nodes")
    page.get_by_label("Conditions").fill("dmi.sys_vendor = Supermicro\nmemory_bytes >= plenty\n")
    page.get_by_label("Template").select_option(label="ubuntu-noble")
    page.get_by_role("button", name="Create rule").click()
    expect(page.locator("#conditions-errors")).to_contain_text("Line 2: >= compares numbers")
    expect(page.locator("#conditions-help")).to_be_visible()
    screenshot("discovery-rule-form-error")

    page.get_by_label("Conditions").fill("dmi.sys_vendor = Supermicro\nmemory_bytes >= 512G\n")
    page.get_by_role("button", name="Create rule").click()
    expect(page.get_by_role("heading", name="gpu-nodes")).to_be_visible()
    expect(page.locator("#match-table")).to_contain_text("No discovered machine matches")

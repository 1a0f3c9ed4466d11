"""Global search in a real browser: Ctrl+K, a MAC, Enter, and the machine's page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.factories import MachineFactory, NetworkInterfaceFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def test_ctrl_k_then_a_mac_lands_on_its_machine(signed_in_page: Page, live_server, screenshot):
    web = MachineFactory(hostname="web-01")
    NetworkInterfaceFactory(machine=web, mac="52:54:00:12:34:56", name="eno1")
    MachineFactory(hostname="web-02")
    page = signed_in_page
    page.goto(live_server.url + "/")

    page.keyboard.press("Control+k")
    expect(page.locator("#global-search")).to_be_focused()
    page.keyboard.type("52:54:00:12:34:56")
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(rf"/machines/{web.pk}/$"))
    expect(page.get_by_role("heading", name="web-01")).to_be_visible()
    page.goto(live_server.url + "/search/?q=web")
    expect(page.locator('[data-kind="Machine"] li')).to_have_count(2)
    screenshot("search")

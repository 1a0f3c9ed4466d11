"""Dark mode: the system's choice by default, the navbar button cycles auto → light → dark and
the choice survives a reload; pages are readable in it (screenshot)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.factories import MachineFactory, RackFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.browser]


def _theme(page: Page) -> str | None:
    return page.evaluate("document.documentElement.getAttribute('data-bs-theme')")


def test_follows_the_system_then_the_toggle(signed_in_page: Page, live_server, screenshot):
    rack = RackFactory(name="R01")
    for unit in (1, 3, 5):
        MachineFactory(hostname=f"node-{unit}", rack=rack, position=unit)
    page = signed_in_page
    page.emulate_media(color_scheme="dark")
    page.goto(f"{live_server.url}/racks/{rack.pk}/")

    assert _theme(page) == "dark"  # auto: the system is dark
    toggle = page.locator("#theme-toggle")
    expect(toggle).to_have_attribute("data-mode", "auto")
    screenshot("rack-dark")

    toggle.click()  # auto -> light
    assert _theme(page) == "light"
    expect(toggle).to_have_attribute("aria-label", "Colour mode: light (click to change)")
    toggle.click()  # light -> dark, whatever the system says
    page.emulate_media(color_scheme="light")
    page.reload()
    assert _theme(page) == "dark"
    toggle.click()  # dark -> auto: the system again
    assert _theme(page) == "light"

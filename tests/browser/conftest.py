"""Browser tests: Playwright drives the system Chromium against pytest-django's live server."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.conf import settings
from django.test import Client
from playwright.sync_api import Browser, Page, sync_playwright

from tests.tools import require_tool

# Playwright's sync API runs an asyncio loop in this thread; Django refuses ORM calls from a
# thread with a running loop unless told that this is deliberate (factories, live_server).
os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SCREENSHOTS = ARTIFACTS / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """The Debian Chromium, never a browser downloaded by `playwright install`.

    Module-scoped on purpose, instead of pytest-playwright's session-wide fixtures: while
    Playwright runs, its asyncio loop stays current in this thread, and every pytest-asyncio
    test the same worker ran afterwards would fail ("cannot be called from a running event
    loop"). Leaving the module stops Playwright and frees the thread.
    """
    require_tool(Path(CHROMIUM).exists(), f"{CHROMIUM} (Debian package chromium)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


_failed = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_failed] = report.failed
    return report


@pytest.fixture
def page(chromium: Browser, request: pytest.FixtureRequest) -> Iterator[Page]:
    """A fresh browser context per test; a failing test leaves a screenshot behind."""
    context = chromium.new_context(viewport={"width": 1440, "height": 900})
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    if request.node.stash.get(_failed, False):
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
        page.screenshot(path=str(SCREENSHOTS / f"FAILED-{name}.png"), full_page=True)
    context.close()


@pytest.fixture
def screenshot(page: Page) -> Callable[..., Path]:
    """Save the page as test-artifacts/screenshots/<name>.png, to look at after the run."""

    def take(name: str, *, full_page: bool = True) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        return path

    return take


@pytest.fixture
def signed_in_page(page: Page, live_server, operator) -> Page:
    """A page whose browser already holds the operator's session (no login form round trip)."""
    client = Client()
    client.force_login(operator)
    session = client.cookies[settings.SESSION_COOKIE_NAME].value
    page.context.add_cookies(
        [{"name": settings.SESSION_COOKIE_NAME, "value": session, "url": live_server.url}]
    )
    return page

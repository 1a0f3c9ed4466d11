"""The build page in Chromium: backlog, live lines and progress, then the finished build.

The log is the shared terminal panel (static/rackpilot/live-log-panel.js); its contents are read
from xterm's buffer through the page's ``window.rackpilotBuildLog`` hook.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, WebSocketRoute, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from builds.services import lifecycle
from builds.services.runner import build_output_dir
from tests.browser.conftest import chromium, page, screenshot
from tests.builds_app.conftest import SYSTEM, queue_one, write_artifacts
from tests.live_server import AsgiLiveServer, asgi_live_server, call_in_thread, sign_in_page

__all__ = ["asgi_live_server", "chromium", "page", "screenshot"]  # fixtures, used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def terminal(page: Page) -> list[str] | None:
    return page.evaluate("window.rackpilotBuildLog.terminalLines()")


def expect_terminal(page: Page, lines: list[str]) -> None:
    """Wait until the terminal holds exactly ``lines``, then compare (for the diff)."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "want => JSON.stringify(window.rackpilotBuildLog.terminalLines())"
            " === JSON.stringify(want)",
            arg=lines,
            timeout=8_000,
        )
    assert terminal(page) == lines
    assert page.evaluate("window.rackpilotBuildLog.lines()") == lines


def watch(page: Page, server: AsgiLiveServer, user: Any, build: Any) -> Any:
    sign_in_page(page, server, user)
    page.goto(f"{server.url}/builds/{build.pk}/")
    expect(page.locator("#live-status")).to_have_text("Live")
    # Anything that reloads the page drops this marker.
    page.evaluate("window.rpSameDocument = true")
    return page.locator("#build-log .rp-log")


def test_progress_and_log_arrive_live_then_the_page_shows_the_result(
    page: Page,
    asgi_live_server: AsgiLiveServer,
    builder_user: Any,
    recipe: Any,
    screenshot: Callable[..., Path],
):
    build = queue_one(recipe)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_progress(build_id=build.pk, percent=40, step="pull init")
    lifecycle.build_log(build_id=build.pk, lines=["one", "two"])

    panel = watch(page, asgi_live_server, builder_user, build)
    bar = page.locator("#build-progress .progress-bar")
    # the backlog is in the terminal, which is open from the start
    expect_terminal(page, ["one", "two"])
    expect(panel).to_have_class("rp-log is-open")
    expect(panel.locator(".rp-log-count")).to_have_text("2 lines")
    expect(bar).to_have_text("40%")
    expect(page.locator("#build-step")).to_have_text("pull init")
    download = panel.locator("a[download]")
    assert download.get_attribute("href") == f"/api/v1/builds/{build.pk}/log.txt"

    # live lines and progress arrive without a reload
    call_in_thread(lifecycle.build_log, build_id=build.pk, lines=["three"])
    call_in_thread(lifecycle.build_progress, build_id=build.pk, percent=75, step="cpio")
    expect_terminal(page, ["one", "two", "three"])
    expect(bar).to_have_text("75%")
    expect(page.locator("#build-step")).to_have_text("cpio")
    expect(panel.locator(".rp-log-live")).to_be_visible()
    screenshot("build-running")

    # searching the log finds a line
    search = panel.locator("input[type=search]")
    search.fill("three")
    expect(panel.locator(".rp-log-hits")).to_have_text("1/1")
    screenshot("build-log-search")
    search.press("Escape")
    expect(panel.locator(".rp-log-hits")).to_have_text("")

    # after a drop, a line stored meanwhile arrives once, after the ones the page has
    page.evaluate("window.rackpilotBuildLog.disconnect()")
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    call_in_thread(lifecycle.build_log, build_id=build.pk, lines=["four"])
    expect(page.locator("#live-status")).to_have_text("Live", timeout=15_000)
    expect_terminal(page, ["one", "two", "three", "four"])
    assert page.evaluate("window.rackpilotBuildLog.stats.connects") == 2
    assert page.evaluate("window.rackpilotBuildLog.info().seq") == 4
    # and a frame the page already has, delivered again, changes nothing
    page.evaluate(
        "frame => window.rackpilotBuildLog.receive(frame)",
        {
            "type": "lines",
            "build": build.pk,
            "first_seq": 3,
            "lines": [
                {"seq": 3, "ts": "2026-01-01T00:00:00Z", "text": "three"},
                {"seq": 4, "ts": "2026-01-01T00:00:00Z", "text": "four"},
            ],
        },
    )
    assert terminal(page) == ["one", "two", "three", "four"]
    assert page.evaluate("window.rackpilotBuildLog.stats.duplicates") >= 2
    assert page.evaluate("window.rpSameDocument") is True

    # when the build ends, the page reloads with its artifacts and steps
    files = write_artifacts(build_output_dir(build.pk), build.arch)
    call_in_thread(
        lifecycle.build_finish,
        build_id=build.pk,
        actor=SYSTEM,
        artifacts=[lifecycle.ArtifactFile(f.name, f.path, f.size, f.sha256) for f in files],
        steps=[{"name": "pull", "seconds": 1.5}],
    )
    expect(page.locator("#artifacts")).to_contain_text("initramfs-x86_64")
    expect(page.locator("#steps")).to_contain_text("pull")
    expect(page.locator("#build-state .badge")).to_have_text("Success")
    expect_terminal(page, ["one", "two", "three", "four"])
    expect(panel.locator(".rp-log-live")).to_be_hidden()
    expect(bar).not_to_have_class("progress-bar-animated")
    screenshot("build-finished")


def test_lost_lines_are_fetched_instead_of_subscribing_again(
    page: Page, asgi_live_server: AsgiLiveServer, builder_user: Any, recipe: Any
):
    build = queue_one(recipe)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_log(build_id=build.pk, lines=["a", "b"])
    # The page's socket goes through a proxy that can lose one frame from the server.
    lose_next_lines = {"armed": False, "lost": 0}

    def proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            if json.loads(message).get("type") == "lines" and lose_next_lines["armed"]:
                lose_next_lines.update(armed=False, lost=lose_next_lines["lost"] + 1)
                return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(f"{asgi_live_server.ws_url}/ws/builds/{build.pk}/", proxy)
    watch(page, asgi_live_server, builder_user, build)
    expect_terminal(page, ["a", "b"])

    # when the frame with lines 3-4 is lost on the way
    lose_next_lines["armed"] = True
    call_in_thread(lifecycle.build_log, build_id=build.pk, lines=["c", "d"])
    page.wait_for_function("() => true")  # lets the proxy handle the frame
    expect_terminal(page, ["a", "b"])
    # then the next frame shows the gap, and the page fetches what it lacks on the same socket
    call_in_thread(lifecycle.build_log, build_id=build.pk, lines=["e"])
    expect_terminal(page, ["a", "b", "c", "d", "e"])
    assert lose_next_lines["lost"] == 1
    stats = page.evaluate("window.rackpilotBuildLog.stats")
    assert (stats["gaps"], stats["fetches"], stats["connects"]) == (1, 1, 1)

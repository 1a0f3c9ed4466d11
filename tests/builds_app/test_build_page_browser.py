"""The build page in Chromium: backlog, live lines and progress, then the finished build."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from builds.services import lifecycle
from builds.services.runner import build_output_dir
from tests.browser.conftest import SCREENSHOTS, chromium, page
from tests.builds_app.conftest import SYSTEM, queue_one, write_artifacts
from tests.live_server import AsgiLiveServer, asgi_live_server, call_in_thread, sign_in_page

__all__ = ["asgi_live_server", "chromium", "page"]  # fixtures, imported to be used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_progress_and_log_arrive_live_then_the_page_shows_the_result(
    page: Page, asgi_live_server: AsgiLiveServer, builder_user: Any, recipe: Any
):
    build = queue_one(recipe)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_progress(build_id=build.pk, percent=40, step="pull init")
    lifecycle.build_log(build_id=build.pk, lines=["one", "two"])

    sign_in_page(page, asgi_live_server, builder_user)
    page.goto(f"{asgi_live_server.url}/builds/{build.pk}/")
    log = page.locator("#build-log")
    bar = page.locator("#build-progress .progress-bar")
    expect(log).to_have_text("one\ntwo\n")
    expect(bar).to_have_text("40%")
    expect(page.locator("#build-step")).to_have_text("pull init")

    call_in_thread(lifecycle.build_log, build_id=build.pk, lines=["three"])
    call_in_thread(lifecycle.build_progress, build_id=build.pk, percent=75, step="cpio")
    expect(log).to_have_text("one\ntwo\nthree\n")
    page.screenshot(path=str(SCREENSHOTS / "build-live-log.png"), full_page=True)
    expect(bar).to_have_text("75%")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "build-running.png"), full_page=True)

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
    expect(log).to_have_text("one\ntwo\nthree\n")
    page.screenshot(path=str(SCREENSHOTS / "build-finished.png"), full_page=True)

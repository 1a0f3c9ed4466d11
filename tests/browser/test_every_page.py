"""Every kind of dashboard page in Chromium, as admin, operator and viewer: no console error, no
failed request, and a viewer is offered no command (no form that writes, no command button).

The pages are found as the crawl of tests/core/test_page_crawl.py finds them (links from the
home page, one page per URL shape), over the daphne server so the live sockets connect.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.test import Client
from playwright.sync_api import Page

from tests.core.test_page_crawl import _crawl
from tests.core.test_page_crawl import fleet as fleet
from tests.live_server import AsgiLiveServer, asgi_live_server, sign_in_page

__all__ = ["asgi_live_server", "fleet"]  # fixtures, imported to be used here
pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# Forms a viewer may still submit (GET forms, search and filters, are not writes): signing out,
# and their own API tokens, which every user manages.
VIEWER_POST_FORMS = ("/accounts/logout/", "/account/tokens/")


def _one_per_shape(paths: dict[str, int]) -> list[str]:
    chosen: dict[str, str] = {}
    for path, status in paths.items():
        bare = path.split("?")[0]
        if status != 200 or bare.endswith((".csv", ".yaml", ".txt", ".json")):
            continue  # downloads, not pages
        shape = re.sub(r"\d+", "N", bare)
        chosen.setdefault(shape, path)
    return sorted(chosen.values())


def _watch(page: Page) -> list[str]:
    """Everything that goes wrong on ``page`` from now on, appended as it happens."""
    problems: list[str] = []
    page.on(
        "console", lambda m: problems.append(f"console: {m.text}") if m.type == "error" else None
    )
    page.on("pageerror", lambda error: problems.append(f"script: {error}"))
    page.on(
        "response",
        lambda r: problems.append(f"{r.status} {r.url}") if r.status >= 400 else None,
    )
    return problems


@pytest.mark.parametrize("role", ["admin_member", "operator", "viewer"])
def test_every_page_renders_cleanly_for_each_role(
    fleet: None,
    page: Page,
    asgi_live_server: AsgiLiveServer,
    role: str,
    request: pytest.FixtureRequest,
) -> None:
    user: Any = request.getfixturevalue(role)
    client = Client()
    client.force_login(user)
    paths = _one_per_shape(_crawl(client))
    assert len(paths) >= 15, paths
    sign_in_page(page, asgi_live_server, user)

    problems: dict[str, list[str]] = {}
    offered: dict[str, list[str]] = {}
    seen = _watch(page)
    for path in paths:
        page.goto(f"{asgi_live_server.url}{path}")
        page.wait_for_load_state("networkidle")
        if seen:
            problems[path] = list(seen)
            seen.clear()
        if role == "viewer":
            actions = page.eval_on_selector_all(
                "form[method=post], form[method=POST]",
                "forms => forms.map(f => f.getAttribute('action') || location.pathname)",
            )
            writes = [a for a in actions if not a.startswith(VIEWER_POST_FORMS)]
            if writes:
                offered[path] = writes

    assert problems == {}
    assert offered == {}

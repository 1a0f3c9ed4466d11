"""The workflow timeline in a real browser, live: a test agent reports and the open page's
Gantt grows a running bar, then a finished one, without a reload."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.workflows.factories import FakeAgent, TemplateFactory, provisionable_machine, start
from workflows.states import ActionState

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def test_the_timeline_follows_the_agent(signed_in_page: Page, live_server, screenshot) -> None:
    machine = provisionable_machine()
    workflow = start(TemplateFactory(), machine)
    agent = FakeAgent(machine)
    page = signed_in_page
    page.goto(f"{live_server.url}/workflows/{workflow.pk}/")
    expect(page.locator("#workflow-timeline")).to_be_visible()
    expect(page.locator(".rp-gantt-bar")).to_have_count(0)

    first = agent.run(workflow)  # RUNNING

    row = page.locator(f'.rp-gantt-row[data-action="{first.name}"]')
    expect(row).to_have_attribute("data-state", "running", timeout=15_000)
    expect(row.locator(".rp-gantt-running")).to_be_visible()

    agent.report(first, ActionState.SUCCESS, exit_code=0)
    agent.succeed_all(workflow)

    expect(page.locator(".rp-gantt-success")).to_have_count(
        workflow.tasks.get().actions.count(), timeout=15_000
    )
    screenshot("workflow-timeline")

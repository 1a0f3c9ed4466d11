"""The overview in a real browser: its counters and recent events follow a test agent's
reports without a reload, the charts are drawn, and the phase table regroups."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.live_server import AsgiLiveServer, asgi_live_server, call_in_thread, sign_in_page
from tests.workflows.factories import FakeAgent, TemplateFactory, provisionable_machine, start

__all__ = ["asgi_live_server"]  # a fixture, imported to be used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def _count(page: Page, stat: str):
    return page.locator(f'[data-rp-stat="{stat}"] .rp-count')


def test_counters_and_events_follow_the_agent(
    page: Page, asgi_live_server: AsgiLiveServer, operator, screenshot
) -> None:
    machine = provisionable_machine()
    sign_in_page(page, asgi_live_server, operator)
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(f"{asgi_live_server.url}/")
    expect(page.locator("#live-status")).to_have_attribute("data-status", "live")
    expect(_count(page, "workflows-running")).to_have_text("0")
    # Both charts are drawn from the page's data (Chart.js attaches itself to the canvas).
    for canvas in ("#duration-chart", "#outcome-chart"):
        assert page.evaluate(f"!!window.Chart.getChart(document.querySelector('{canvas}'))")

    workflow = call_in_thread(start, template=TemplateFactory(), machine=machine)
    agent = FakeAgent(machine)
    call_in_thread(agent.run, workflow=workflow)  # the workflow starts: one running

    expect(_count(page, "workflows-running")).to_have_text("1", timeout=15_000)
    expect(page.locator("#recent-events code", has_text="workflow.started")).to_be_visible()
    screenshot("overview-live")

    call_in_thread(agent.fail, workflow=workflow)

    expect(_count(page, "workflows-running")).to_have_text("0", timeout=15_000)
    expect(_count(page, "workflows-failed")).to_have_text("1")
    expect(page.locator("#recent-events code", has_text="workflow.failed")).to_be_visible()
    # The outcome chart now counts today's failure.
    page.wait_for_function("window.rackpilotOverview.stats.chartRefreshes > 0", timeout=15_000)
    failed_today = page.evaluate(
        "Object.fromEntries(JSON.parse(document.getElementById('overview-charts')"
        ".dataset.rpOutcomes))['failed']"
    )
    assert failed_today == 1
    assert [e for e in errors if "favicon" not in e] == []


def test_the_phase_table_regroups(signed_in_page: Page, live_server) -> None:
    page = signed_in_page
    page.goto(f"{live_server.url}/")
    page.get_by_label("Group by").select_option("template")
    expect(page.locator("#phase-summary")).to_be_visible()
    expect(page.get_by_label("Group by")).to_have_value("template")


def test_the_demo_overview_has_charts_and_phases(
    page: Page, asgi_live_server: AsgiLiveServer, operator, screenshot
) -> None:
    from rackpilot.core.actors import Actor
    from rackpilot.core.bootstrap import bootstrap_steps

    for step in bootstrap_steps():
        step.run(Actor.system("tests"), True)
    sign_in_page(page, asgi_live_server, operator)
    page.goto(f"{asgi_live_server.url}/")
    expect(page.locator("#live-status")).to_have_attribute("data-status", "live")

    phases = page.locator("#phase-summary")
    expect(phases.locator('th[data-phase="power"]')).to_have_text("Power command → iPXE script")
    expect(phases.locator("tbody tr")).to_have_count(1)
    drawn = page.evaluate(
        "window.Chart.getChart(document.getElementById('outcome-chart'))"
        ".data.datasets.reduce((sum, d) => sum + d.data.reduce((a, b) => a + b, 0), 0)"
    )
    assert drawn >= 14
    page.get_by_label("Group by").select_option("model")
    expect(phases.locator('tbody tr[data-group="PowerEdge R650"]')).to_be_visible()
    screenshot("overview")

"""The workflow timeline: bars placed on one axis from the actions' own times, on the page."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
from django.test import Client

from tests.workflows.factories import FakeAgent, TemplateFactory, provisionable_machine, start
from workflows.timeline import build_timeline

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _task(name: str, *actions: SimpleNamespace) -> SimpleNamespace:
    return SimpleNamespace(name=name, actions=SimpleNamespace(all=lambda: list(actions)))


def _action(name: str, start: int | None, end: int | None, state: str) -> SimpleNamespace:
    return SimpleNamespace(
        name=name,
        state=state,
        attempt=1,
        started_at=T0 + timedelta(seconds=start) if start is not None else None,
        finished_at=T0 + timedelta(seconds=end) if end is not None else None,
    )


def test_bars_are_shares_of_the_run_and_the_running_one_reaches_now() -> None:
    task = _task(
        "install",
        _action("stream", 0, 60, "success"),
        _action("write", 60, 75, "success"),
        _action("kexec", 75, None, "running"),
        _action("later", None, None, "pending"),
    )

    timeline = build_timeline([task], now=T0 + timedelta(seconds=100))

    bars = {bar.action.name: bar for bar in timeline.bars}
    assert timeline.total_seconds == 100
    assert (bars["stream"].left, bars["stream"].width) == (0, 60)
    assert (bars["write"].left, bars["write"].width) == (60, 15)
    assert (bars["kexec"].left, bars["kexec"].width, bars["kexec"].running) == (75, 25, True)
    assert bars["later"].seconds is None
    assert [label for _, label in timeline.ticks] == [
        "0 s",
        "20 s",
        "40 s",
        "1 min",
        "1 min 20 s",
        "1 min 40 s",
    ]
    assert bars["stream"].label == "1 min"


def test_nothing_started_yet_keeps_the_rows_without_bars() -> None:
    timeline = build_timeline([_task("t", _action("a", None, None, "pending"))], now=T0)

    assert [bar.seconds for bar in timeline.bars] == [None]
    assert timeline.ticks == []


@pytest.mark.django_db
def test_the_workflow_page_draws_one_bar_per_action_that_ran(viewer_client: Client) -> None:
    machine = provisionable_machine()
    workflow = start(TemplateFactory(), machine)
    agent = FakeAgent(machine)
    agent.succeed_all(workflow)

    page = viewer_client.get(f"/workflows/{workflow.pk}/").content.decode()

    actions = workflow.tasks.get().actions.count()
    assert page.count('class="rp-gantt-bar rp-gantt-success') == actions
    assert 'id="workflow-timeline"' in page


@pytest.mark.django_db
def test_the_machine_page_lists_its_workflows(viewer_client: Client) -> None:
    machine = provisionable_machine()
    workflow = start(TemplateFactory(name="ubuntu-x"), machine)

    page = viewer_client.get(f"/machines/{machine.pk}/").content.decode()

    assert f'href="/workflows/{workflow.pk}/">#{workflow.pk} ubuntu-x</a>' in page
    other = viewer_client.get(f"/machines/{provisionable_machine().pk}/").content.decode()
    assert "No workflow has run on this machine." in other

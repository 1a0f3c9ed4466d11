"""An action's times are the server's; the agent's clock is kept beside them, as reported.

Hook often boots with a wrong real-time clock: an agent a day off must neither time its action
out at once nor keep it alive for a day, and its own timestamps are still there to read.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from tests.workflows.conftest import AgentClient
from workflows.models import Action, Workflow
from workflows.services.timeouts import workflows_enforce_timeouts

pytestmark = pytest.mark.django_db
DAY = timedelta(days=1)


def _first(workflow: Workflow) -> Action:
    return Action.objects.filter(task__workflow=workflow).order_by("order").first()  # type: ignore[return-value]


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("skew", [-DAY, DAY], ids=["agent-a-day-behind", "agent-a-day-ahead"])
def test_started_and_finished_are_the_servers_times_and_the_agents_are_kept(
    workflow: Workflow, agent: AgentClient, skew: timedelta
) -> None:
    action = _first(workflow)
    agent_start = timezone.now() + skew
    agent_end = agent_start + timedelta(seconds=42)

    # when the agent reports running, then success, by its own (skewed) clock
    before_start = timezone.now()
    assert agent.report(action.pk, 1, "running", at=_stamp(agent_start)).status_code == 200
    after_start = timezone.now()
    assert (
        agent.report(action.pk, 1, "success", exit_code=0, at=_stamp(agent_end)).status_code == 200
    )
    after_end = timezone.now()

    # then the server's times bracket the reports' arrival, the duration is what the server saw
    action.refresh_from_db()
    workflow.refresh_from_db()
    assert action.started_at is not None
    assert action.finished_at is not None
    assert before_start <= action.started_at <= after_start
    assert after_start <= action.finished_at <= after_end
    assert 0 <= action.duration <= (after_end - before_start).total_seconds()  # type: ignore[operator]
    assert workflow.started_at == action.started_at
    # and the agent's own times are kept exactly as reported
    assert action.agent_started_at == agent_start
    assert action.agent_finished_at == agent_end


@pytest.mark.parametrize("skew", [-DAY, DAY], ids=["agent-a-day-behind", "agent-a-day-ahead"])
def test_the_servers_timeout_runs_on_the_servers_clock(
    workflow: Workflow, agent: AgentClient, settings, skew: timedelta
) -> None:
    settings.WORKFLOW_TIMEOUT_GRACE_SECONDS = 5
    action = _first(workflow)  # timeout: 60 s
    agent.report(action.pk, 1, "running", at=_stamp(timezone.now() + skew))
    started = timezone.now()

    # a clock a day behind does not time the action out at once ...
    assert workflows_enforce_timeouts(now=started) == 0
    # ... and a clock a day ahead does not keep it alive for a day
    assert workflows_enforce_timeouts(now=started + timedelta(seconds=66)) == 1
    action.refresh_from_db()
    assert action.state == "timeout"


def test_repeated_reports_move_neither_the_servers_times_nor_the_agents(
    workflow: Workflow, agent: AgentClient
) -> None:
    action = _first(workflow)
    first_start = timezone.now() - DAY
    agent.report(action.pk, 1, "running", at=_stamp(first_start))
    action.refresh_from_db()
    started_at = action.started_at

    # a resent running report (say, after a reconnect), stamped later
    again = agent.report(action.pk, 1, "running", at=_stamp(first_start + timedelta(minutes=5)))
    assert again.json()["duplicate"] is True
    agent.report(action.pk, 1, "failed", exit_code=3, at=_stamp(first_start + timedelta(seconds=9)))
    action.refresh_from_db()
    finished_at = action.finished_at
    resent = agent.report(
        action.pk, 1, "failed", exit_code=3, at=_stamp(first_start + timedelta(minutes=7))
    )
    assert resent.json()["duplicate"] is True

    action.refresh_from_db()
    assert (action.started_at, action.finished_at) == (started_at, finished_at)
    assert action.agent_started_at == first_start
    assert action.agent_finished_at == first_start + timedelta(seconds=9)


def test_the_api_shows_both_clocks(api, workflow: Workflow, agent: AgentClient) -> None:
    action = _first(workflow)
    agent_start = timezone.now() - DAY
    agent.report(action.pk, 1, "running", at=_stamp(agent_start))
    action.refresh_from_db()

    body = api.get(f"/api/v1/workflows/{workflow.pk}/").json()

    shown = body["tasks"][0]["actions"][0]
    assert datetime.fromisoformat(shown["started_at"]) == action.started_at
    assert datetime.fromisoformat(shown["agent_started_at"]) == agent_start
    assert shown["agent_finished_at"] is None

"""The overview (home page): counters, charts, phases and recent events, each section shown to
those who may read it, the counters fetched again as events arrive; and the demo history that
gives a first start something to show."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import BMC
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.bootstrap import bootstrap_steps
from rackpilot.core.models import Event
from tests.factories import BMCFactory, MachineFactory
from tests.workflows.conftest import make_machine
from workflows import overview, phases
from workflows.models import Workflow
from workflows.services.engine import workflow_create
from workflows.states import WorkflowState

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def _finish(workflow: Workflow, state: str, *, minutes: float, days_ago: int = 0) -> None:
    end = timezone.now() - timedelta(days=days_ago)
    Workflow.objects.filter(pk=workflow.pk).update(
        state=state, started_at=end - timedelta(minutes=minutes), finished_at=end
    )


def test_counters_count_what_needs_an_operator(operator_client, template) -> None:
    MachineFactory(state=MachineState.DISCOVERED)
    silent = BMCFactory()
    BMC.objects.filter(pk=silent.pk).update(
        power_state=BMC.PowerState.UNKNOWN, power_state_at=timezone.now()
    )
    BMCFactory()  # never polled: not counted as unreachable
    running = workflow_create(
        template=template, machine=make_machine("run-1", "52:54:00:00:01:01"), actor=SYSTEM
    )
    Workflow.objects.filter(pk=running.pk).update(state=WorkflowState.RUNNING)
    failed = workflow_create(
        template=template, machine=make_machine("fail-1", "52:54:00:00:01:02"), actor=SYSTEM
    )
    _finish(failed, WorkflowState.FAILED, minutes=3)

    page = operator_client.get(reverse("dashboard:home")).content.decode()
    live = operator_client.get(reverse("dashboard:overview-live")).content.decode()

    for html in (page, live):
        assert 'data-rp-stat="discovered-waiting"' in html
    counts = overview.workflow_counts(timezone.now())
    assert counts == {"running": 1, "pending": 0, "failed_24h": 1, "succeeded_24h": 0}
    machines = live.split('data-rp-stat="discovered-waiting"')[1]
    assert ">1</div>" in machines.split("</section>")[0]
    unreachable = live.split('data-rp-stat="bmcs-unreachable"')[1].split("</section>")[0]
    assert ">1</div>" in unreachable
    # The live fragment holds the counters only, not the charts or events.
    assert "duration-chart" in page and "duration-chart" not in live
    assert "recent-events" in page and "recent-events" not in live


def test_chart_data_has_outcomes_and_duration_percentiles_per_day(template) -> None:
    machines = [make_machine(f"c-{n}", f"52:54:00:00:02:{n:02x}") for n in range(4)]
    minutes_and_states = [
        (10, WorkflowState.SUCCESS),
        (20, WorkflowState.SUCCESS),
        (30, WorkflowState.SUCCESS),
        (5, WorkflowState.FAILED),
    ]
    for machine, (minutes, state) in zip(machines, minutes_and_states, strict=True):
        workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
        _finish(workflow, state, minutes=minutes, days_ago=1)

    data = overview.chart_data()

    assert len(data["days"]) == overview.CHART_DAYS
    yesterday = data["days"].index((timezone.localdate() - timedelta(days=1)).isoformat())
    assert data["duration_p50"][yesterday] == pytest.approx(1200.0)
    assert data["duration_p95"][yesterday] == pytest.approx(1740.0)
    assert data["duration_p50"][-1] is None
    outcomes = {row["state"]: row["counts"] for row in data["outcomes"]}
    assert outcomes["success"][yesterday] == 3
    assert outcomes["failed"][yesterday] == 1
    assert sum(outcomes["success"]) == 3


def test_charts_json_and_phase_table_answer_viewers(viewer_client) -> None:
    charts = viewer_client.get(reverse("workflows-ui:overview-charts"))
    table = viewer_client.get(reverse("workflows-ui:phase-summary"), {"group_by": "site"})

    assert charts.status_code == 200
    assert set(charts.json()) == {"days", "duration_p50", "duration_p95", "outcomes"}
    assert table.status_code == 200
    assert 'id="phase-summary"' in table.content.decode()


def test_the_overview_reads_a_constant_number_of_queries(operator_client, template) -> None:
    def home_queries() -> int:
        with CaptureQueriesContext(connection) as queries:
            assert operator_client.get(reverse("dashboard:home")).status_code == 200
        return len(queries)

    first = workflow_create(
        template=template, machine=make_machine("q-first", "52:54:00:00:04:01"), actor=SYSTEM
    )
    _finish(first, WorkflowState.SUCCESS, minutes=2)
    few = home_queries()
    for n in range(6):
        workflow = workflow_create(
            template=template, machine=make_machine(f"q-{n}", f"52:54:00:00:03:{n:02x}"),
            actor=SYSTEM,
        )  # fmt: skip
        _finish(workflow, WorkflowState.SUCCESS, minutes=n + 1, days_ago=n % 3)
    BMCFactory.create_batch(3)

    assert home_queries() == few


def _bootstrap_demo() -> None:
    for step in bootstrap_steps():
        step.run(SYSTEM, True)


def test_demo_history_gives_charts_and_phases_their_content() -> None:
    _bootstrap_demo()

    history = Workflow.objects.filter(created_at__lt=timezone.now() - timedelta(hours=12))
    summary = phases.phase_summary(
        Workflow.objects.all(), group_by="model", since=timezone.now() - timedelta(days=30)
    )
    data = overview.chart_data()

    assert history.count() >= 14
    assert sum(sum(row["counts"]) for row in data["outcomes"]) >= history.count()
    assert sum(1 for value in data["duration_p50"] if value) >= 10
    assert {"power", "ipxe", "kernel", "boot", "agent"} <= set(summary.phase_keys)
    assert "PowerEdge R650" in {group.name for group in summary.groups}
    # Marked as demo, and loaded once.
    assert Event.objects.filter(message="demo history").exists()
    count = Workflow.objects.count()
    _bootstrap_demo()
    assert Workflow.objects.count() == count
    # The history leaves its machines ready for the operator.
    assert not Workflow.objects.filter(state__in=("pending", "running")).exists()

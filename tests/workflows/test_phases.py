"""Provisioning phases: each boot split into timed steps from recorded events, p50/p95 by
hardware model, site and template, on the pages and over the API."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory.models import Machine
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from rackpilot.core.models import Event
from tests.factories import BMCFactory, RackFactory, SiteFactory
from tests.workflows.conftest import make_machine
from workflows import phases
from workflows.models import Action, Template, Workflow
from workflows.services.engine import workflow_create
from workflows.states import WorkflowState

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


def _mark(machine: Machine, verb: str, at: datetime) -> None:
    event = record_event(actor=SYSTEM, verb=verb, obj=machine, machine=machine)
    Event.objects.filter(pk=event.pk).update(timestamp=at)


def _finished_run(
    template: Template,
    machine: Machine,
    start: datetime,
    *,
    post: float = 90,
    actions: tuple[float, ...] = (200, 5),
    state: str = WorkflowState.SUCCESS,
    boot: bool = True,
    comeback: float | None = None,
) -> Workflow:
    """A workflow whose boot marks and action times are placed from ``start`` (seconds)."""
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    moment = start
    if boot:
        for verb, gap in (
            (phases.POWER, 1),
            (phases.SCRIPT, post),
            (phases.KERNEL, 1),
            (phases.INITRD, 3),
            (phases.AGENT, 30),
        ):
            moment += timedelta(seconds=gap)
            _mark(machine, verb, moment)
    moment += timedelta(seconds=4)
    rows = list(Action.objects.filter(task__workflow=workflow).order_by("order"))
    for action, seconds in zip(rows, actions, strict=True):
        end = moment + timedelta(seconds=seconds)
        Action.objects.filter(pk=action.pk).update(started_at=moment, finished_at=end)
        moment = end
    Workflow.objects.filter(pk=workflow.pk).update(
        state=state, created_at=start, started_at=start, finished_at=moment
    )
    if comeback is not None:
        _mark(machine, phases.AGENT, moment + timedelta(seconds=comeback))
    # The machine is free for the next run (state is the engine's; these are test rows).
    Machine.objects.filter(pk=machine.pk).update(state="ready")
    workflow.refresh_from_db()
    return workflow


@pytest.fixture
def start() -> datetime:
    return timezone.now() - timedelta(days=2)


def test_a_boot_splits_into_its_phases_in_order(template, machine, start) -> None:
    workflow = _finished_run(template, machine, start, post=90, comeback=70)

    found = {phase.key: phase.seconds for phase in phases.workflow_phases(workflow)}

    assert list(found) == [
        "power",
        "ipxe",
        "kernel",
        "boot",
        "agent",
        "action:write-disk",
        "action:reboot",
        "reboot",
    ]
    assert found["power"] == pytest.approx(90)
    assert found["ipxe"] == pytest.approx(1)
    assert found["kernel"] == pytest.approx(3)
    assert found["boot"] == pytest.approx(30)
    assert found["agent"] == pytest.approx(4)
    assert found["action:write-disk"] == pytest.approx(200)
    assert found["reboot"] == pytest.approx(70)


def test_missing_marks_leave_their_phases_out_and_a_failure_has_no_reboot(
    template, machine, start
) -> None:
    no_boot = _finished_run(template, machine, start, boot=False)
    failed = _finished_run(
        template,
        machine,
        start + timedelta(hours=3),
        state=WorkflowState.FAILED,
        comeback=30,
    )

    assert [p.key for p in phases.workflow_phases(no_boot)] == [
        "action:write-disk",
        "action:reboot",
    ]
    assert "reboot" not in {p.key for p in phases.workflow_phases(failed)}


def test_the_last_boot_before_the_first_action_is_the_one_measured(
    template, machine, start
) -> None:
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    Workflow.objects.filter(pk=workflow.pk).update(created_at=start)
    # A first PXE attempt that went nowhere, then a power cycle and a boot that worked.
    _mark(machine, phases.POWER, start + timedelta(seconds=1))
    _mark(machine, phases.SCRIPT, start + timedelta(seconds=60))
    _mark(machine, phases.POWER, start + timedelta(seconds=300))
    _mark(machine, phases.SCRIPT, start + timedelta(seconds=420))
    _mark(machine, phases.KERNEL, start + timedelta(seconds=421))
    first = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    Action.objects.filter(pk=first.pk).update(
        started_at=start + timedelta(seconds=500), finished_at=start + timedelta(seconds=510)
    )
    workflow.refresh_from_db()

    found = {phase.key: phase.seconds for phase in phases.workflow_phases(workflow)}

    assert found["power"] == pytest.approx(120)
    assert found["ipxe"] == pytest.approx(1)


def test_percentiles_interpolate_between_ranks() -> None:
    values = [10.0, 20.0, 30.0, 40.0, 100.0]

    assert phases.percentile(values, 0.5) == 30.0
    assert phases.percentile(values, 0.95) == pytest.approx(88.0)
    assert phases.percentile([7.0], 0.95) == 7.0


def _two_models(template: Template, start: datetime) -> tuple[list[Workflow], list[Workflow]]:
    fast_site = SiteFactory(name="Fast", slug="fast")
    slow_site = SiteFactory(name="Slow", slug="slow")
    fast = make_machine("fast-1", "52:54:00:f0:00:01")
    slow = make_machine("slow-1", "52:54:00:50:00:01")
    Machine.objects.filter(pk=fast.pk).update(
        rack=RackFactory(site=fast_site), hardware={"dmi": {"product_name": "R650"}}
    )
    # The second model is known from the BMC's Redfish inventory only.
    Machine.objects.filter(pk=slow.pk).update(rack=RackFactory(site=slow_site))
    BMCFactory(machine=slow, inventory={"dmi": {"product_name": "G292"}})
    fast_runs = [
        _finished_run(template, fast, start + timedelta(hours=n), post=post)
        for n, post in enumerate((60, 70, 80))
    ]
    slow_runs = [
        _finished_run(template, slow, start + timedelta(hours=n), post=post)
        for n, post in enumerate((200, 300))
    ]
    return fast_runs, slow_runs


def test_summary_groups_by_model_site_and_template(template, start) -> None:
    _two_models(template, start)
    since = start - timedelta(days=1)

    by_model = phases.phase_summary(Workflow.objects.all(), group_by="model", since=since)
    by_site = phases.phase_summary(Workflow.objects.all(), group_by="site", since=since)
    by_template = phases.phase_summary(Workflow.objects.all(), group_by="template", since=since)

    groups = {group.name: group for group in by_model.groups}
    assert set(groups) == {"R650", "G292"}
    assert groups["R650"].workflows == 3
    assert groups["R650"].stats("power").p50 == pytest.approx(70)
    assert groups["G292"].stats("power").p50 == pytest.approx(250)
    assert groups["G292"].stats("power").p95 == pytest.approx(295)
    assert {group.name for group in by_site.groups} == {"Fast", "Slow"}
    assert [(g.name, g.workflows) for g in by_template.groups] == [("two-steps", 5)]
    assert by_model.phase_keys[:5] == ["power", "ipxe", "kernel", "boot", "agent"]


def test_summary_reads_a_constant_number_of_queries(template, start) -> None:
    since = start - timedelta(days=1)
    _two_models(template, start)
    with CaptureQueriesContext(connection) as few:
        phases.phase_summary(Workflow.objects.all(), group_by="model", since=since)
    extra = make_machine("fast-2", "52:54:00:f0:00:02")
    for n in range(4):
        _finished_run(template, extra, start + timedelta(hours=10 + n))
    with CaptureQueriesContext(connection) as more:
        phases.phase_summary(Workflow.objects.all(), group_by="model", since=since)

    assert len(more) == len(few) == 3


def test_the_api_answers_the_summary_and_names_a_bad_parameter(api, template, start) -> None:
    _two_models(template, start)
    url = reverse("analytics-phases")

    answer = api.get(url, {"group_by": "model", "days": 7})
    refused = api.get(url, {"group_by": "colour", "days": 0})

    assert answer.status_code == 200
    body = answer.json()
    assert body["workflows"] == 5
    groups = {group["group"]: group for group in body["groups"]}
    power = next(p for p in groups["G292"]["phases"] if p["phase"] == "power")
    assert power == {
        "phase": "power",
        "label": "Power command → iPXE script",
        "count": 2,
        "p50_seconds": 250.0,
        "p95_seconds": 295.0,
    }
    assert refused.status_code == 400
    assert set(refused.json()) >= {"group_by", "days"}


def test_the_api_filters_by_site_and_lists_one_workflows_phases(api, template, start) -> None:
    fast_runs, _ = _two_models(template, start)

    summary = api.get(reverse("analytics-phases"), {"site": "slow"}).json()
    one = api.get(reverse("workflow-phases", args=[fast_runs[0].pk])).json()

    assert summary["workflows"] == 2
    assert [row["phase"] for row in one][:2] == ["power", "ipxe"]
    assert one[0]["seconds"] == pytest.approx(60)


def test_phase_pages_show_the_machine_beside_its_model_and_flag_a_slow_phase(
    operator_client, template, start
) -> None:
    _fast_runs, slow_runs = _two_models(template, start)
    slow = slow_runs[0].machine
    outlier = _finished_run(template, slow, start + timedelta(hours=9), post=2000)

    machine_card = operator_client.get(reverse("workflows-ui:machine-phase-card", args=[slow.pk]))
    workflow_card = operator_client.get(
        reverse("workflows-ui:workflow-phase-card", args=[outlier.pk])
    )

    html = machine_card.content.decode()
    assert 'data-group="This machine"' in html
    assert 'data-group="All G292"' in html
    card = workflow_card.content.decode()
    assert 'data-phase="power" class="table-warning"' in card
    assert "slow</span>" in card
    assert 'data-phase="ipxe" class="table-warning"' not in card


def test_viewers_read_phases_and_anonymous_users_do_not(
    viewer_client, client, template, start
) -> None:
    fast_runs, _ = _two_models(template, start)
    url = reverse("workflows-ui:workflow-phase-card", args=[fast_runs[0].pk])

    assert viewer_client.get(url).status_code == 200
    client.logout()
    assert client.get(url).status_code in (302, 401, 403)


def test_an_id_beyond_the_database_is_refused_by_name(api) -> None:
    answer = api.get(reverse("analytics-phases"), {"machine": 2**70})

    assert answer.status_code == 400
    assert "machine" in answer.json()

"""A bulk start that boots its machines into PXE, while one of them is busy with a power job:
that machine alone is refused, with the job named; the others start and get their power cycle."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from inventory.models import Machine, PowerJob
from inventory.power import services as power_services
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, RackFactory
from tests.workflows.conftest import make_machine
from workflows.models import Template, Workflow
from workflows.services import boot_power, engine

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture
def rack_with_a_busy_machine(template: Template) -> tuple[list[Machine], PowerJob]:
    """fra-1..3 in site fra1, each with a BMC; fra-2's BMC is running a power-off."""
    rack = RackFactory(site__slug="fra1", name="A1")
    machines = []
    for n in range(1, 4):
        machine = make_machine(f"fra-{n}", f"52:54:00:f1:00:0{n}")
        Machine.objects.filter(pk=machine.pk).update(rack=rack, position=n)
        BMCFactory(machine=machine)
        machines.append(machine)
    busy = power_services.power_job_request(
        machine=machines[1], action=PowerJob.Action.OFF, actor=SYSTEM, reason="operator"
    )
    # A worker has taken it and is talking to the BMC.
    PowerJob.objects.filter(pk=busy.pk).update(state="running", started_at=timezone.now())
    busy.refresh_from_db()
    return machines, busy


def _cycles() -> list[tuple[str, str]]:
    jobs = PowerJob.objects.filter(action="cycle").order_by("machine__hostname")
    return [(job.machine.hostname, job.state) for job in jobs]


def test_the_busy_machine_alone_is_refused_and_the_others_start(
    rack_with_a_busy_machine: tuple[list[Machine], PowerJob],
    template: Template,
    queued_power_jobs: list[int],
    django_capture_on_commit_callbacks: Any,
) -> None:
    machines, busy = rack_with_a_busy_machine

    with django_capture_on_commit_callbacks(execute=True):
        result = engine.workflow_bulk_create(
            template=template,
            machines=Machine.objects.filter(hostname__startswith="fra-"),
            actor=SYSTEM,
            skip_refused=True,
            boot_into_pxe=True,
        )

    assert sorted(w.machine.hostname for w in result.created) == ["fra-1", "fra-3"]
    assert [(m.hostname, reason) for m, reason in result.refused] == [
        ("fra-2", f"Power off #{busy.pk} on fra-2 is still running; wait for it to finish.")
    ]
    assert _cycles() == [("fra-1", "queued"), ("fra-3", "queued")]
    assert sorted(queued_power_jobs) == sorted(
        PowerJob.objects.filter(action="cycle").values_list("pk", flat=True)
    )
    assert not Workflow.objects.filter(machine=machines[1]).exists()


def test_without_skip_refused_nothing_starts_and_the_refusal_says_why(
    rack_with_a_busy_machine: tuple[list[Machine], PowerJob],
    template: Template,
    queued_power_jobs: list[int],
) -> None:
    _, busy = rack_with_a_busy_machine

    result = engine.workflow_bulk_create(
        template=template,
        machines=Machine.objects.filter(hostname__startswith="fra-"),
        actor=SYSTEM,
        boot_into_pxe=True,
    )

    assert result.created == []
    assert [(m.hostname, f"#{busy.pk}" in reason) for m, reason in result.refused] == [
        ("fra-2", True)
    ]
    assert not Workflow.objects.exists()
    assert _cycles() == []


def test_the_bulk_api_answers_with_the_refusal_not_an_error(
    api: APIClient,
    rack_with_a_busy_machine: tuple[list[Machine], PowerJob],
    queued_power_jobs: list[int],
) -> None:
    _, busy = rack_with_a_busy_machine

    response = api.post(
        "/api/v1/workflows/bulk/",
        {
            "template": "two-steps",
            "filter": {"site": "fra1"},
            "skip_refused": True,
            "boot_into_pxe": True,
        },
        format="json",
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert sorted(w["machine"] for w in body["created"]) == ["fra-1", "fra-3"]
    assert [r["machine"] for r in body["refused"]] == ["fra-2"]
    assert f"Power off #{busy.pk}" in body["refused"][0]["reason"]
    assert "running" in body["refused"][0]["reason"]
    assert _cycles() == [("fra-1", "queued"), ("fra-3", "queued")]


def test_the_bulk_page_lists_the_refusal_instead_of_failing(
    operator_client: Client,
    rack_with_a_busy_machine: tuple[list[Machine], PowerJob],
    template: Template,
    queued_power_jobs: list[int],
) -> None:
    _, busy = rack_with_a_busy_machine
    url = reverse("workflows-ui:workflow-bulk") + "?site=fra1"
    page = operator_client.get(url).content.decode()
    selection = re.search(r'name="selection" value="([0-9a-f]+)"', page)
    assert selection is not None

    response = operator_client.post(
        url,
        {
            "template": template.pk,
            "selection": selection.group(1),
            "skip_refused": "on",
            "boot_into_pxe": "on",
        },
    )

    assert response.status_code == 200
    refused = re.search(r'<tr data-hostname="fra-2">.*?</tr>', response.content.decode(), re.S)
    assert refused is not None
    assert f"Power off #{busy.pk}" in refused.group(0)
    assert Workflow.objects.count() == 2


def _a_job_slips_in_for(hostname: str) -> Callable[..., PowerJob]:
    """power_job_request as the workflow's boot power calls it, except that just before it a job for
    ``hostname`` is written by someone who did not take the machine's lock: the check before
    the batch passed, the request itself is then refused."""
    real = power_services.power_job_request

    def request(*, machine: Machine, **options: Any) -> PowerJob:
        if machine.hostname == hostname:
            PowerJob.objects.create(machine=machine, action=PowerJob.Action.ON)
        return real(machine=machine, **options)

    return request


@pytest.mark.parametrize("skip_refused", [True, False])
def test_a_machine_refused_while_it_is_written_is_refused_alone(
    monkeypatch: pytest.MonkeyPatch,
    rack_with_a_busy_machine: tuple[list[Machine], PowerJob],
    template: Template,
    queued_power_jobs: list[int],
    django_capture_on_commit_callbacks: Any,
    skip_refused: bool,
) -> None:
    machines, busy = rack_with_a_busy_machine
    PowerJob.objects.filter(pk=busy.pk).update(state="success")  # fra-2 passes the check
    monkeypatch.setattr(boot_power, "power_job_request", _a_job_slips_in_for("fra-3"))

    with django_capture_on_commit_callbacks(execute=True):
        result = engine.workflow_bulk_create(
            template=template,
            machines=Machine.objects.filter(hostname__startswith="fra-"),
            actor=SYSTEM,
            skip_refused=skip_refused,
            boot_into_pxe=True,
        )

    assert [(m.hostname, "still queued" in reason) for m, reason in result.refused] == [
        ("fra-3", True)
    ]
    assert not Workflow.objects.filter(machine=machines[2]).exists()
    if skip_refused:
        # fra-3's own rows went back with its savepoint; the others' stayed and were sent
        assert sorted(w.machine.hostname for w in result.created) == ["fra-1", "fra-2"]
        assert _cycles() == [("fra-1", "queued"), ("fra-2", "queued")]
        assert len(queued_power_jobs) == 2
    else:
        # all or nothing: the machines written before fra-3 went back too, nothing was sent
        assert result.created == []
        assert not Workflow.objects.exists()
        assert _cycles() == []
        assert queued_power_jobs == []

"""Workflows that boot their machine into PXE through its BMC (Tinkerbell's bootMode: netboot)."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from django.core.exceptions import ValidationError
from rest_framework.test import APIClient

from inventory.models import Machine, PowerJob
from inventory.power import services as power_services
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from tinkerbell.formats import import_documents
from workflows.models import Template, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_bulk_create, workflow_create, workflow_rerun

pytestmark = pytest.mark.django_db
SYSTEM = Actor.system("tests")


@pytest.fixture
def template() -> Template:
    return template_services.template_create(actor=SYSTEM, name="two-steps", body=TWO_ACTIONS)


def with_bmc(hostname: str, mac: str) -> Machine:
    machine = make_machine(hostname, mac)
    BMCFactory(machine=machine)
    return machine


def test_a_workflow_power_cycles_its_machine_into_pxe(
    template: Template, queued_power_jobs: list[int], django_capture_on_commit_callbacks: Any
) -> None:
    machine = with_bmc("pxe-a", "52:54:00:90:00:01")
    with django_capture_on_commit_callbacks(execute=True):
        workflow = workflow_create(
            template=template, machine=machine, actor=SYSTEM, boot_into_pxe=True
        )
    job = PowerJob.objects.get(machine=machine)
    assert (job.action, job.boot_device, job.persistent) == ("cycle", "pxe", False)
    assert job.reason == f"boot into PXE for workflow #{workflow.pk}"
    assert queued_power_jobs == [job.pk]
    assert workflow.boot_into_pxe


def test_without_a_bmc_the_workflow_is_refused_and_nothing_is_written(
    template: Template, queued_power_jobs: list[int]
) -> None:
    machine = make_machine("no-bmc", "52:54:00:90:00:02")
    with pytest.raises(ValidationError) as caught:
        workflow_create(template=template, machine=machine, actor=SYSTEM, boot_into_pxe=True)
    assert "no-bmc has no BMC" in caught.value.message_dict["boot_into_pxe"][0]
    assert not Workflow.objects.exists()


def test_bulk_refuses_the_machines_without_a_bmc_first(
    template: Template, queued_power_jobs: list[int]
) -> None:
    with_bmc("bulk-a", "52:54:00:90:00:03")
    make_machine("bulk-b", "52:54:00:90:00:04")
    result = workflow_bulk_create(
        template=template,
        machines=Machine.objects.filter(hostname__startswith="bulk-"),
        actor=SYSTEM,
        boot_into_pxe=True,
    )
    assert result.created == []
    assert [(m.hostname, "has no BMC" in reason) for m, reason in result.refused] == [
        ("bulk-b", True)
    ]
    assert not PowerJob.objects.exists()


def test_a_rerun_boots_into_pxe_again(template: Template, queued_power_jobs: list[int]) -> None:
    machine = with_bmc("rerun-a", "52:54:00:90:00:05")
    first = workflow_create(template=template, machine=machine, actor=SYSTEM, boot_into_pxe=True)
    power_services.power_job_run(job_id=PowerJob.objects.get().pk, run=lambda job: "on")
    Workflow.objects.filter(pk=first.pk).update(state="failed")
    again = workflow_rerun(workflow=first, actor=SYSTEM)
    assert again.boot_into_pxe
    assert PowerJob.objects.filter(machine=machine).count() == 2


def test_the_api_takes_the_option(
    api: APIClient, template: Template, queued_power_jobs: list[int]
) -> None:
    machine = with_bmc("api-a", "52:54:00:90:00:06")
    response = api.post(
        "/api/v1/workflows/",
        {"template": "two-steps", "machine": machine.hostname, "boot_into_pxe": True},
        format="json",
    )
    assert response.status_code == 201, response.content
    assert response.json()["boot_into_pxe"] is True
    assert PowerJob.objects.filter(machine=machine, boot_device="pxe").exists()


def test_tinkerbell_boot_mode_netboot_means_boot_into_pxe(
    template: Template, queued_power_jobs: list[int]
) -> None:
    machine = with_bmc("tink-a", "52:54:00:90:00:07")
    document = {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "tink-a-install"},
        "spec": {
            "templateRef": "two-steps",
            "hardwareRef": machine.hostname,
            "bootOptions": {"bootMode": "netboot", "toggleAllowNetboot": True},
        },
    }
    result = import_documents(text=yaml.safe_dump(document), actor=SYSTEM)
    assert result.warnings == []
    workflow = Workflow.objects.get(machine=machine)
    assert (workflow.boot_into_pxe, workflow.disable_pxe_on_success) == (True, True)
    assert PowerJob.objects.filter(machine=machine, action="cycle").count() == 1

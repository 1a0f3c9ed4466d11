"""Tinkerbell Template and Workflow documents imported with Hardware, all or nothing."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from tinkerbell.formats import TinkerbellImportError, import_documents
from workflows.models import Template, Workflow
from workflows.services.engine import workflow_create
from workflows.services.templates import template_create

pytestmark = pytest.mark.django_db

PROVISION = (
    Path(__file__).resolve().parent.parent / "fixtures" / "tinkerbell" / "provision-gpu07.yaml"
)
GPU07_MAC = "52:54:00:a7:00:01"


def provision() -> list[dict[str, Any]]:
    """The fixture's Hardware, Template and Workflow documents."""
    return [d for d in yaml.safe_load_all(PROVISION.read_text()) if d is not None]


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def refusal(text: str, actor: Actor) -> list[str]:
    with pytest.raises(TinkerbellImportError) as raised:
        import_documents(text=text, actor=actor)
    return raised.value.errors


def counts() -> tuple[int, int, int]:
    return Machine.objects.count(), Template.objects.count(), Workflow.objects.count()


def template_document(name: str, body: str) -> dict[str, Any]:
    return {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Template",
        "metadata": {"name": name},
        "spec": {"data": body},
    }


def workflow_document(name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": name, "namespace": "tink-system"},
        "spec": spec,
    }


@pytest.fixture
def ready_machine():
    """A machine already in Rackpilot, with a boot interface and a disk."""
    machine = MachineFactory(hostname="r630-11")
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:0b:00:11", is_boot=True)
    DiskFactory(machine=machine, device="/dev/sda")
    return machine


@pytest.fixture
def stored_template(actor: Actor) -> Template:
    template = provision()[1]
    return template_create(actor=actor, name="debian-bookworm", body=template["spec"]["data"])


# --- creating ------------------------------------------------------------------------------------


def test_hardware_template_and_workflow_in_one_file_create_all_three():
    out, err = io.StringIO(), io.StringIO()

    call_command("import_tinkerbell", str(PROVISION), stdout=out, stderr=err)

    workflow = Workflow.objects.get()
    assert out.getvalue().splitlines() == [
        "created Hardware gpu07",
        "created Template debian-bookworm",
        f"created Workflow gpu07-install (#{workflow.pk} on gpu07)",
    ]
    assert err.getvalue() == ""
    template = Template.objects.get(name="debian-bookworm")
    assert template.body == provision()[1]["spec"]["data"]
    assert (workflow.template, workflow.machine.hostname) == (template, "gpu07")
    assert (workflow.state, workflow.hardware_map) == ("pending", {"device_1": GPU07_MAC})
    assert workflow.disable_pxe_on_success is True
    task = workflow.tasks.get()
    assert task.worker == GPU07_MAC
    stream, kexec = task.actions.order_by("order")
    assert stream.environment["IMG_URL"].endswith("/debian-12-genericcloud-arm64.raw.gz")
    assert (kexec.pid, kexec.environment["BLOCK_DEVICE"]) == ("host", "/dev/sda1")


def test_a_workflow_uses_a_machine_and_template_already_in_rackpilot(
    actor, ready_machine, stored_template
):
    document = workflow_document(
        "r630-11-install", {"templateRef": "debian-bookworm", "hardwareRef": "r630-11"}
    )

    result = import_documents(text=dump(document), actor=actor)

    workflow = Workflow.objects.get(machine=ready_machine)
    assert [str(o) for o in result.objects] == [
        f"created Workflow r630-11-install (#{workflow.pk} on r630-11)"
    ]
    # Without a hardwareMap, device_1 is the machine's boot interface, as Tinkerbell's is.
    assert workflow.hardware_map == {"device_1": "52:54:00:0b:00:11"}
    assert (
        workflow.tasks.get()
        .actions.order_by("order")[0]
        .environment["IMG_URL"]
        .endswith("amd64.raw.gz")
    )


def test_a_template_is_updated_when_its_body_changes_and_kept_otherwise(actor, stored_template):
    changed = template_document("debian-bookworm", stored_template.body + "# v2\n")

    same = import_documents(
        text=dump(template_document("debian-bookworm", stored_template.body)), actor=actor
    )
    updated = import_documents(text=dump(changed), actor=actor)

    assert [str(o) for o in same.objects] == ["unchanged Template debian-bookworm"]
    assert [str(o) for o in updated.objects] == ["updated Template debian-bookworm"]
    stored_template.refresh_from_db()
    assert stored_template.body.endswith("# v2\n")


def test_dry_run_reports_the_workflow_and_writes_nothing(actor):
    result = import_documents(text=PROVISION.read_text(), actor=actor, dry_run=True)

    assert [(o.action, o.kind) for o in result.objects] == [
        ("created", "Hardware"),
        ("created", "Template"),
        ("created", "Workflow"),
    ]
    assert counts() == (0, 0, 0)


def test_iso_boot_is_refused_naming_the_fields(actor, ready_machine, stored_template):
    document = workflow_document(
        "r630-11-install",
        {
            "templateRef": "debian-bookworm",
            "hardwareRef": "r630-11",
            "bootOptions": {"bootMode": "isoboot", "isoURL": "http://10.0.0.2/hook.iso"},
        },
    )

    errors = refusal(dump(document), actor)

    assert [e.split(": ")[1] for e in errors] == [
        "spec.bootOptions.isoURL",
        "spec.bootOptions.bootMode",
    ]
    assert all("virtual media" in e for e in errors)
    assert not Workflow.objects.exists()


def test_unknown_boot_options_are_ignored_with_a_warning(actor, ready_machine, stored_template):
    document = workflow_document(
        "r630-11-install",
        {
            "templateRef": "debian-bookworm",
            "hardwareRef": "r630-11",
            "bootOptions": {"toggleNetboot": True},
        },
    )

    result = import_documents(text=dump(document), actor=actor)

    assert result.warnings == [
        "document 1 (r630-11-install): spec.bootOptions.toggleNetboot: not a boot option "
        "Rackpilot knows; ignored",
    ]
    assert Workflow.objects.get().disable_pxe_on_success is False


# --- refusing: nothing at all is written ---------------------------------------------------------


def test_a_workflow_with_an_unknown_template_writes_nothing(actor):
    hardware, template, workflow = provision()
    workflow["spec"]["templateRef"] = "debian-trixie"

    errors = refusal(dump(hardware, template, workflow), actor)

    assert errors == [
        "document 3 (gpu07-install): spec.templateRef: no Template 'debian-trixie' in Rackpilot "
        "or earlier in this file"
    ]
    assert counts() == (0, 0, 0)


def test_references_must_come_earlier_in_the_file(actor):
    hardware, template, workflow = provision()

    errors = refusal(dump(workflow, hardware, template), actor)

    assert errors == [
        "document 1 (gpu07-install): spec.templateRef: no Template 'debian-bookworm' in "
        "Rackpilot or earlier in this file",
        "document 1 (gpu07-install): spec.hardwareRef: no Hardware 'gpu07' in Rackpilot or "
        "earlier in this file",
    ]
    assert counts() == (0, 0, 0)


def test_a_workflow_for_a_busy_machine_writes_nothing(actor, ready_machine, stored_template):
    running = workflow_create(template=stored_template, machine=ready_machine, actor=actor)
    _, template, _ = provision()
    template["spec"]["data"] += "# changed\n"
    document = workflow_document(
        "again", {"templateRef": "debian-bookworm", "hardwareRef": "r630-11"}
    )

    errors = refusal(dump(template, document), actor)

    assert errors == [
        f"document 2 (again): spec.hardwareRef: r630-11 already has an unfinished workflow "
        f"(#{running.pk}, pending)"
    ]
    stored_template.refresh_from_db()
    assert not stored_template.body.endswith("# changed\n")
    assert list(Workflow.objects.all()) == [running]


def test_two_workflows_for_one_machine_in_a_file_are_refused(actor, ready_machine, stored_template):
    spec = {"templateRef": "debian-bookworm", "hardwareRef": "r630-11"}

    errors = refusal(dump(workflow_document("a", spec), workflow_document("b", spec)), actor)

    assert errors == [
        "document 2 (b): spec.hardwareRef: r630-11 also gets a workflow from document 1 (a)"
    ]
    assert Workflow.objects.count() == 0


def test_a_template_with_a_syntax_error_is_refused_at_its_position(actor):
    body = 'version: "0.1"\nname: x\nworker: "{{ .device_1 }"\n'

    errors = refusal(dump(template_document("broken", body)), actor)

    assert errors == [
        'document 1 (broken): spec.data: 3:23: unexpected "}" in operand '
        "(line:column within spec.data)"
    ]
    assert Template.objects.count() == 0


def test_a_template_that_fails_to_render_for_the_machine_writes_nothing(actor):
    hardware, template, workflow = provision()
    template["spec"]["data"] = template["spec"]["data"].replace(
        "index .Hardware.Disks 0 }}\n", "index .Hardware.Disks 1 }}\n", 1
    )

    errors = refusal(dump(hardware, template, workflow), actor)

    assert errors == [
        "document 3 (gpu07-install): spec.templateRef: rendering debian-bookworm for gpu07: "
        "14:25: error calling index: index out of range: 1"
    ]
    assert counts() == (0, 0, 0)


def test_workflow_fields_are_checked(actor):
    document = workflow_document(
        "odd", {"hardwareMap": {"device_1": 7}, "disabled": True, "templateRef": ["x"]}
    )

    errors = refusal(dump(document), actor)

    assert errors == [
        "document 1 (odd): spec.templateRef: expected a string, got ['x']",
        "document 1 (odd): spec.hardwareMap.device_1: expected a string (quote it), got 7",
        "document 1 (odd): spec.disabled: Rackpilot has no disabled workflows; leave the "
        "document out",
        "document 1 (odd): spec.hardwareRef: required here: no spec.hardwareMap value is the "
        "MAC of an interface or the agentID of a Hardware in Rackpilot or in this file",
    ]


def test_an_unquoted_mac_of_digits_is_a_string(actor, stored_template):
    machine = MachineFactory(hostname="r630-12")
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:07:00:01")
    DiskFactory(machine=machine, device="/dev/sda")
    text = (
        "apiVersion: tinkerbell.org/v1alpha1\nkind: Workflow\nmetadata:\n  name: w\nspec:\n"
        "  templateRef: debian-bookworm\n  hardwareRef: r630-12\n"
        "  hardwareMap:\n    device_1: 52:54:00:07:00:01\n"
    )

    import_documents(text=text, actor=actor)

    assert Workflow.objects.get().hardware_map == {"device_1": "52:54:00:07:00:01"}


def test_applying_the_same_file_again_never_updates_the_workflow(actor):
    import_documents(text=PROVISION.read_text(), actor=actor)
    first = Workflow.objects.get()

    errors = refusal(PROVISION.read_text(), actor)

    assert errors == [
        f"document 3 (gpu07-install): spec.hardwareRef: gpu07 already has an unfinished "
        f"workflow (#{first.pk}, pending)"
    ]
    assert list(Workflow.objects.all()) == [first]

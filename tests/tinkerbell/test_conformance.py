"""Every real Tinkerbell file of the conformance corpus, as a Tinkerbell user would use it.

The files are read from ../shared/conformance/tinkerbell at test time and globbed when the
tests are collected; the tables (corpus.py and below) say per file what must happen and why.
Templates are rendered by Rackpilot and by Go's text/template with Sprig and Tinkerbell's
functions (tests/goracle), over the same data, and must agree byte for byte. The figures
(files passing / files Tinkerbell accepts, per kind) are printed at the end of the run.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command

from inventory.models import BMC, Machine
from rackpilot.core.actors import Actor
from tests.goracle import render_in_go
from tests.tinkerbell import conformance_report as report
from tests.tinkerbell.corpus import (
    REFERENCE_SECRET,
    TEMPLATES,
    TemplateCase,
    corpus_dir,
    corpus_files,
    read,
    small_hardware,
    substitute,
    template_bodies,
)
from tinkerbell.formats import Document, ImportContext, TinkerbellImportError, import_documents
from tinkerbell.formats.references import resolve_references
from tinkerbell.template_data import template_data
from tinkerbell.template_functions import TINKERBELL_FUNCTIONS
from workflows.gotemplate import TemplateError, render
from workflows.models import Workflow
from workflows.rendering import MAX_RENDERED_BYTES, TemplateRenderError, render_workflow

ACTOR = Actor.system("conformance")
LOCATED = re.compile(r"(^|\D)\d+:\d+(: |$)")


# --- templates ----------------------------------------------------------------------------------


def _hardware(case: TemplateCase) -> dict[str, Any]:
    if case.hardware.endswith(".yaml"):
        documents = yaml.safe_load_all(read("hardware", case.hardware))
        return next(d for d in documents if isinstance(d, dict) and d.get("kind") == "Hardware")
    return small_hardware(case.hardware)


def case_data(case: TemplateCase) -> dict[str, Any]:
    hardware = _hardware(case)
    references = dict(case.references)
    if case.reference_documents:
        sources = [Document(label="test", body=d) for d in [hardware, *case.reference_documents]]
        spec_refs = hardware["spec"].get("references")
        namespace = hardware["metadata"].get("namespace", "")
        references.update(
            resolve_references(spec_refs, namespace, ImportContext(sources), lambda w: None)
        )
    data = template_data(hardware, case.hardware_map, references)
    return json.loads(json.dumps(data))  # what both engines are given: plain JSON values


@pytest.mark.parametrize("name", corpus_files("templates"))
def test_template(name: str) -> None:
    corpus_dir("templates")
    case = TEMPLATES.get(name)
    assert case is not None, f"{name} is not in the table of corpus.py: say what it must do"
    data = case_data(case)
    outcomes = []
    for template_name, body in template_bodies(substitute(read("templates", name), case.subst)):
        try:
            rendered = render_workflow(body, data, name=template_name)
        except TemplateRenderError as exc:
            outcomes.append(("refused", "; ".join(str(p) for p in exc.problems)))
        else:
            outcomes.append(("rendered", rendered.text))
    refused = [text for outcome, text in outcomes if outcome == "refused"]
    if case.expect == "rendered":
        assert not refused, f"{name} ({case.why}): {refused}"
    else:
        assert refused, f"{name} ({case.why}) was rendered"
        for text in refused:
            assert LOCATED.search(text), f"{name}: the refusal names no line:column: {text}"
    for needle in case.contains:
        assert any(needle in text for _, text in outcomes), f"{name}: no {needle!r} in {outcomes}"
    # Counted as passing: a file Tinkerbell accepts that Rackpilot renders, or a file Tinkerbell
    # refuses that Rackpilot refuses with a located error.
    passed = (case.expect == "rendered") == case.tinkerbell_accepts
    report.record("templates", name, passed=passed, tinkerbell_accepts=case.tinkerbell_accepts)


def _python_render(body: str, data: dict[str, Any]) -> tuple[bool, bytes]:
    try:
        text = render(body, data, funcs=TINKERBELL_FUNCTIONS)
    except TemplateError as exc:
        error = str(exc)
    else:
        error = ""
    if error:
        assert LOCATED.search(error), error
        return False, b""
    output = text.encode("utf-8", "surrogateescape")
    if len(output) > MAX_RENDERED_BYTES:
        return False, b""
    return True, output


@pytest.mark.parametrize("name", corpus_files("templates"))
def test_template_renders_as_go_does(name: str) -> None:
    """The same accept/refuse decision as Go's text/template, and byte-identical output."""
    corpus_dir("templates")
    case = TEMPLATES[name]
    data = case_data(case)
    bodies = template_bodies(substitute(read("templates", name), case.subst))
    answers = render_in_go([(body, data) for _, body in bodies], tinkerbell=True)
    for (template_name, body), go in zip(bodies, answers, strict=True):
        ok, output = _python_render(body, data)
        assert ok == go.ok, f"{name}/{template_name}: python ok={ok}, go error={go.error!r}"
        assert output == (go.output if go.ok else b""), f"{name}/{template_name} differs"
    report.record("go", name, passed=True, tinkerbell_accepts=True, documents=len(bodies))


# --- hardware -----------------------------------------------------------------------------------


@dataclass
class FileCase:
    expect: str  # "accepted" | "refused" | "not-tinkerbell"
    why: str
    subst: dict[str, str] = field(default_factory=dict)
    contains: list[str] = field(default_factory=list)
    tinkerbell_accepts: bool = True


CLIENT_MAC = "08:00:27:9e:f5:3a"
HARDWARE: dict[str, FileCase] = {
    "capt--quickstart-node-1.yaml": FileCase("accepted", "CAPT's quick start"),
    "eks-anywhere--csv-generated-hardware-multidoc.yaml": FileCase(
        "accepted", "Hardware + Rufio Machine (its BMC) + Secret (its credentials)"
    ),
    "eks-anywhere--hardware.csv": FileCase(
        "not-tinkerbell", "EKS-A's CSV input, not a Tinkerbell document (its YAML is tested)",
        tinkerbell_accepts=False,
    ),
    "playground--capt-hardware-tmpl.yaml": FileCase(
        "accepted", "envsubst $NODE_* first",
        subst={"$NODE_ROLE": "control-plane", "$NODE_NAME": "node1", "$NAMESPACE": "tink",
               "$NODE_IP": "172.18.10.20", "$GATEWAY_IP": "172.18.10.1",
               "$NODE_MAC": "02:7f:92:bd:2d:57"},
    ),
    "playground--machine1.yaml": FileCase(
        "accepted", "envsubst $TINKERBELL_CLIENT_* first",
        subst={"$DISK_DEVICE": "/dev/sda", "$TINKERBELL_CLIENT_MAC": CLIENT_MAC,
               "$TINKERBELL_CLIENT_ARCH": "x86_64", "$TINKERBELL_CLIENT_IP": "192.168.56.43"},
    ),
    "tink--crd-example-sm01.yaml": FileCase("accepted", "the canonical example"),
    "tink--e2e-01-hardware-storage.yaml": FileCase("accepted", "instance.storage, no disks"),
    "tinkerbell--docs-references-hardware.yaml": FileCase(
        "accepted", "only spec.references (no interfaces)"
    ),
    "tinkerbell--docs-v1alpha2-hardware.yaml": FileCase(
        "refused", "v1alpha2 has another schema", contains=["v1alpha2", "v1alpha1"],
        tinkerbell_accepts=True,
    ),
    "tinkerbell--file-backend-testdata-list.yaml": FileCase(
        "refused",
        "its last entry is bad on purpose (ip.address \"3\"), the error case of Tinkerbell's "
        "own backend test; the four others import without it",
        contains=["bad-data", "spec.interfaces[0].dhcp.ip.address"], tinkerbell_accepts=False,
    ),
    "tinkerbell-PR395--tootles-nocloud-multiple-bonds.yaml": FileCase("accepted", "4 NICs, bonds"),
    "tinkerbell.org--cloudinit-example.yaml": FileCase("accepted", "folded userData, no NICs"),
    "vietcgi--gitops-hardware-multidoc.yaml": FileCase("accepted", "2 documents, comments"),
}  # fmt: skip


def import_text(text: str) -> str:
    """'' when imported, else the refusal (one line per problem)."""
    try:
        import_documents(text=text, actor=ACTOR)
    except TinkerbellImportError as exc:
        return "\n".join(exc.errors)
    return ""


@pytest.mark.django_db
@pytest.mark.parametrize("name", corpus_files("hardware"))
def test_hardware(name: str) -> None:
    corpus_dir("hardware")
    case = HARDWARE.get(name)
    assert case is not None, f"{name} is not in the table: say what it must do"
    refusal = import_text(substitute(read("hardware", name), case.subst))
    if case.expect == "accepted":
        assert refusal == "", f"{name} ({case.why}): {refusal}"
    else:
        assert refusal, f"{name} ({case.why}) was imported"
        for needle in case.contains:
            assert needle in refusal, refusal
    if case.expect != "not-tinkerbell":
        passed = (case.expect == "accepted") == case.tinkerbell_accepts
        report.record("hardware", name, passed=passed, tinkerbell_accepts=case.tinkerbell_accepts)


@pytest.mark.django_db
def test_the_file_backends_good_entries_import_without_the_bad_one() -> None:
    entries = yaml.safe_load(read("hardware", "tinkerbell--file-backend-testdata-list.yaml"))
    good = [entry for entry in entries if entry["metadata"]["name"] != "bad-data"]

    assert import_text(yaml.safe_dump(good)) == ""
    assert Machine.objects.count() == 4


@pytest.mark.django_db
def test_a_rufio_machine_becomes_the_machines_bmc() -> None:
    text = read("hardware", "eks-anywhere--csv-generated-hardware-multidoc.yaml")

    assert import_text(text) == ""
    bmc = BMC.objects.get(machine__hostname="worker1")
    assert (bmc.address, bmc.username, bmc.get_password()) == ("192.168.0.10", "Admin", "admin")
    assert (bmc.port, bmc.verify_tls, bmc.protocol) == (None, False, "redfish")


@pytest.mark.django_db
def test_a_rufio_machine_imported_again_updates_the_bmc_only_where_it_changed() -> None:
    from rackpilot.core.models import Event

    text = read("hardware", "eks-anywhere--csv-generated-hardware-multidoc.yaml")
    import_text(text)

    def bmc_action(result: Any) -> str:
        return next(o.action for o in result.objects if o.kind == "Machine")

    same = import_documents(text=text, actor=ACTOR)
    moved = import_documents(
        text=text.replace("192.168.0.10", "192.168.0.20").replace("YWRtaW4=", "bmV3LXNlY3JldA=="),
        actor=ACTOR,
    )

    assert (bmc_action(same), bmc_action(moved)) == ("unchanged", "updated")
    bmc = BMC.objects.get(machine__hostname="worker1")
    assert (bmc.address, bmc.get_password()) == ("192.168.0.20", "new-secret")
    verbs = list(Event.objects.filter(verb__startswith="bmc.").values_list("verb", flat=True))
    assert verbs.count("bmc.password_changed") == 1  # the unchanged import changed nothing


# --- workflows ----------------------------------------------------------------------------------


def template_document(name: str, worker: str = "device_1") -> dict[str, Any]:
    body = (
        f"version: '0.1'\nname: {name}\nglobal_timeout: 600\ntasks:\n"
        f"  - name: install\n    worker: '{{{{.{worker}}}}}'\n    actions:\n"
        "      - name: hello\n        image: alpine\n        timeout: 60\n"
    )
    return {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Template",
        "metadata": {"name": name},
        "spec": {"data": body},
    }


def hardware_document(name: str, mac: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Hardware",
        "metadata": {"name": name},
        "spec": {
            "interfaces": [
                {"dhcp": {"mac": mac}, "netboot": {"allowPXE": False, "allowWorkflow": True}}
            ],
            **spec,
        },
    }


def bmc_documents(hardware: dict[str, Any]) -> list[dict[str, Any]]:
    name = hardware["metadata"]["name"]
    hardware["spec"]["bmcRef"] = {"apiGroup": "bmc.tinkerbell.org", "kind": "Machine", "name": name}
    return [
        hardware,
        {
            "apiVersion": "bmc.tinkerbell.org/v1alpha1",
            "kind": "Machine",
            "metadata": {"name": name},
            "spec": {"connection": {"host": "10.0.9.1", "authSecretRef": {"name": f"{name}-bmc"}}},
        },
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": f"{name}-bmc"},
            "stringData": {"username": "root", "password": "calvin"},
        },
    ]


def corpus_documents(kind: str, name: str, subst: dict[str, str] | None = None) -> list[Any]:
    text = substitute(read(kind, name), subst or {})
    return [d for d in yaml.safe_load_all(text) if d is not None]


def references_hardware() -> list[dict[str, Any]]:
    (hardware,) = corpus_documents("hardware", "tinkerbell--docs-references-hardware.yaml")
    return [hardware, REFERENCE_SECRET]


def with_interface(documents: list[dict[str, Any]], mac: str) -> list[dict[str, Any]]:
    documents[0]["spec"]["interfaces"] = [
        {"dhcp": {"mac": mac}, "netboot": {"allowWorkflow": True}}
    ]
    return documents


def allowing_workflows(documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for doc in documents:
        for nic in doc["spec"]["interfaces"]:
            nic.setdefault("netboot", {})["allowWorkflow"] = True
    return documents


PLAYGROUND = {"$TINKERBELL_CLIENT_MAC": CLIENT_MAC}


@dataclass
class WorkflowCase(FileCase):
    prelude: Any = list  # () -> documents imported first (the Template, Hardware it names)


WORKFLOWS: dict[str, WorkflowCase] = {
    "playground--playground-workflow.yaml": WorkflowCase(
        "accepted", "envsubst $TINKERBELL_CLIENT_MAC first; toggleAllowNetboot", subst=PLAYGROUND,
        prelude=lambda: [
            template_document("ubuntu"),
            *corpus_documents("hardware", "playground--machine1.yaml", {
                "$DISK_DEVICE": "/dev/sda", "$TINKERBELL_CLIENT_MAC": CLIENT_MAC,
                "$TINKERBELL_CLIENT_ARCH": "x86_64", "$TINKERBELL_CLIENT_IP": "192.168.56.43"}),
        ],
    ),
    "tink--crd-example-wf1.yaml": WorkflowCase(
        "accepted", "the canonical example, with its Template and Hardware",
        prelude=lambda: [
            *corpus_documents("templates", "tink--crd-example-debian.yaml"),
            *corpus_documents("hardware", "tink--crd-example-sm01.yaml"),
        ],
    ),
    "tink--e2e-workflow2-two-workers.yaml": WorkflowCase(
        "accepted", "no hardwareRef; worker pnj is a Hardware's agentID",
        prelude=lambda: [
            *corpus_documents("templates", "tink--e2e-template2-two-workers.yaml"),
            *corpus_documents("hardware", "tink--crd-example-sm01.yaml"),
            hardware_document("pnj-node", "52:54:00:00:0e:01", agentID="pnj"),
        ],
    ),
    "tinkerbell--agent-example-grpc-workflow.yaml": WorkflowCase(
        "accepted", "minimal",
        prelude=lambda: [
            *corpus_documents("templates", "tinkerbell--agent-example-grpc-template.yaml"),
            hardware_document("virtual", "52:54:00:0f:2e:67"),
        ],
    ),
    "tinkerbell--docs-auto-enrollment-generated-workflow.yaml": WorkflowCase(
        "accepted", "no hardwareRef; worker_id is the Hardware's agentID",
        prelude=lambda: [
            template_document("example", worker="worker_id"),
            hardware_document("enrolled", "52:54:00:00:0e:02", agentID="hello123456"),
        ],
    ),
    "tinkerbell--docs-boot-modes-customboot-iso-templated.yaml": WorkflowCase(
        "refused", "virtual media (an ISO through the BMC) cannot be done by Rackpilot",
        contains=["virtualMediaAction", "virtual media"],
        prelude=lambda: [
            template_document("example"),
            *bmc_documents(hardware_document("example", "aa:bb:cc:dd:ee:ff")),
        ],
    ),
    "tinkerbell--docs-boot-modes-customboot.yaml": WorkflowCase(
        "accepted", "customboot: a PXE power cycle first, a persistent disk boot and reset after",
        prelude=lambda: [
            template_document("example", worker="worker_id"),
            *bmc_documents(hardware_document("example", "de:ad:be:ef:00:01")),
        ],
    ),
    "tinkerbell--docs-references-workflow.yaml": WorkflowCase(
        "accepted", "references from a Secret; the Hardware given the worker's interface",
        prelude=lambda: [
            *corpus_documents("templates", "tinkerbell--docs-references-template.yaml"),
            *with_interface(references_hardware(), "52:54:00:41:05:c6"),
        ],
    ),
    "tinkerbell--docs-v1alpha2-workflow.yaml": WorkflowCase(
        "refused", "v1alpha2 has another schema", contains=["v1alpha2", "v1alpha1"],
    ),
    "tinkerbell.org--concepts-workflow.yaml": WorkflowCase(
        "accepted", "hardwareMap with an extra key",
        prelude=lambda: [
            template_document("ubuntu"),
            hardware_document("example-hardware", "00:00:00:00:00:01"),
        ],
    ),
    "vietcgi--gitops-workflows-multidoc.yaml": WorkflowCase(
        "accepted", "its Templates; its Hardware allowing workflows (see the test below)",
        prelude=lambda: [
            *corpus_documents("templates", "vietcgi--gitops-templates-multidoc.yaml"),
            *allowing_workflows(
                corpus_documents("hardware", "vietcgi--gitops-hardware-multidoc.yaml")
            ),
        ],
    ),
}  # fmt: skip


@pytest.mark.django_db
@pytest.mark.parametrize("name", corpus_files("workflows"))
def test_workflow(name: str) -> None:
    corpus_dir("workflows")
    case = WORKFLOWS.get(name)
    assert case is not None, f"{name} is not in the table: say what it must do"
    prelude = case.prelude()
    if prelude:
        assert import_text(yaml.safe_dump_all(prelude)) == ""
    refusal = import_text(substitute(read("workflows", name), case.subst))
    if case.expect == "accepted":
        assert refusal == "", f"{name} ({case.why}): {refusal}"
        assert Workflow.objects.exists()
    else:
        assert refusal, f"{name} ({case.why}) was imported"
        for needle in case.contains:
            assert needle in refusal, refusal
        assert not Workflow.objects.exists()
    passed = (case.expect == "accepted") == case.tinkerbell_accepts
    report.record("workflows", name, passed=passed, tinkerbell_accepts=case.tinkerbell_accepts)


@pytest.mark.django_db
def test_a_worker_named_by_agent_id_runs_on_that_machine() -> None:
    case = WORKFLOWS["tink--e2e-workflow2-two-workers.yaml"]
    import_text(yaml.safe_dump_all(case.prelude()))
    assert import_text(read("workflows", "tink--e2e-workflow2-two-workers.yaml")) == ""

    workers = set(Workflow.objects.get().tasks.values_list("worker", flat=True))
    assert workers == {"3c:ec:ef:4c:4f:54", "52:54:00:00:0e:01"}


@pytest.mark.django_db
def test_customboot_becomes_power_jobs_at_the_start_and_after_success() -> None:
    case = WORKFLOWS["tinkerbell--docs-boot-modes-customboot.yaml"]
    import_text(yaml.safe_dump_all(case.prelude()))
    assert import_text(read("workflows", "tinkerbell--docs-boot-modes-customboot.yaml")) == ""

    workflow = Workflow.objects.get()
    assert workflow.boot_power == {
        "start": {"action": "cycle", "boot_device": "pxe", "persistent": False},
        "success": {"action": "reset", "boot_device": "disk", "persistent": True},
    }
    job = workflow.machine.power_jobs.get()
    assert (job.action, job.boot_device) == ("cycle", "pxe")


@pytest.mark.django_db
def test_toggle_allow_netboot_turns_pxe_on_at_the_start() -> None:
    import_text(yaml.safe_dump_all(WORKFLOWS["vietcgi--gitops-workflows-multidoc.yaml"].prelude()))
    assert not Machine.objects.get(hostname="anvil").allow_pxe

    assert import_text(read("workflows", "vietcgi--gitops-workflows-multidoc.yaml")) == ""

    machine = Machine.objects.get(hostname="anvil")
    assert machine.allow_pxe
    assert machine.workflows.get().disable_pxe_on_success


@pytest.mark.django_db
def test_a_rerun_of_a_toggling_workflow_turns_pxe_on_again() -> None:
    from inventory.services import machine_transition
    from tests.workflows.factories import FakeAgent
    from workflows.services.engine import workflow_rerun

    import_text(yaml.safe_dump_all(WORKFLOWS["vietcgi--gitops-workflows-multidoc.yaml"].prelude()))
    import_text(read("workflows", "vietcgi--gitops-workflows-multidoc.yaml"))
    machine = Machine.objects.get(hostname="anvil")
    first = machine.workflows.get()
    FakeAgent(machine).succeed_all(first)
    machine.refresh_from_db()
    assert not machine.allow_pxe  # toggled off by the success
    for target in ("deprovisioning", "ready"):  # wiped, ready for the next install
        machine_transition(machine=machine, actor=Actor.system("tests"), target=target)

    second = workflow_rerun(workflow=first, actor=Actor.system("tests"))

    machine.refresh_from_db()
    assert machine.allow_pxe
    assert second.disable_pxe_on_success


@pytest.mark.django_db
def test_a_machine_that_does_not_allow_workflows_is_refused_naming_the_flag() -> None:
    import_text(
        yaml.safe_dump_all(
            [
                *corpus_documents("templates", "vietcgi--gitops-templates-multidoc.yaml"),
                *corpus_documents("hardware", "vietcgi--gitops-hardware-multidoc.yaml"),
            ]
        )
    )

    refusal = import_text(read("workflows", "vietcgi--gitops-workflows-multidoc.yaml"))

    assert "colo-server-01" in refusal and "allow_workflow is off" in refusal


@pytest.mark.django_db
def test_a_worker_naming_no_machine_is_refused_naming_the_task_and_the_id() -> None:
    # The machine is named by hardwareRef, but device_1 (the worker) is none of its MACs.
    hardware = hardware_document("example-hardware", "00:00:00:00:00:02")
    import_text(yaml.safe_dump_all([template_document("ubuntu"), hardware]))

    refusal = import_text(read("workflows", "tinkerbell.org--concepts-workflow.yaml"))

    assert "task 'install': worker '00:00:00:00:00:01' names no machine" in refusal


@pytest.mark.django_db
def test_a_hardware_without_interfaces_cannot_run_workflows() -> None:
    # The docs' Hardware has only references: it has no interface to allow workflows on.
    import_text(
        yaml.safe_dump_all(
            [
                *corpus_documents("templates", "tinkerbell--docs-references-template.yaml"),
                *references_hardware(),
            ]
        )
    )

    refusal = import_text(read("workflows", "tinkerbell--docs-references-workflow.yaml"))

    assert "example-hardware (allow_workflow is off)" in refusal


@pytest.mark.django_db
def test_references_reach_the_workflow_from_the_secret() -> None:
    case = WORKFLOWS["tinkerbell--docs-references-workflow.yaml"]
    import_text(yaml.safe_dump_all(case.prelude()))
    import_text(read("workflows", "tinkerbell--docs-references-workflow.yaml"))

    commands = [a["command"] for t in Workflow.objects.get().spec["tasks"] for a in t["actions"]]
    assert commands == [["echo", "admin"], ["echo", "s3cr3t"]]


@pytest.mark.django_db
def test_a_workflow_exports_with_its_status_in_tinkerbells_shape() -> None:
    case = WORKFLOWS["tink--crd-example-wf1.yaml"]
    import_text(yaml.safe_dump_all(case.prelude()))
    import_text(read("workflows", "tink--crd-example-wf1.yaml"))
    workflow = Workflow.objects.get()
    out = io.StringIO()

    call_command("export_tinkerbell", "--workflow", str(workflow.pk), stdout=out)

    (document,) = yaml.safe_load_all(out.getvalue())
    assert document["metadata"]["name"] == "wf1"  # the imported document's name, kept
    assert document["spec"]["templateRef"] == "debian"
    assert document["status"]["state"] == "STATE_PENDING"
    action = document["status"]["tasks"][0]["actions"][0]
    assert action["status"] == "STATE_PENDING" and action["image"]


def test_render_template_reads_the_referenced_secret(tmp_path: Path) -> None:
    hardware = tmp_path / "hardware.yaml"
    (hw,) = corpus_documents("hardware", "tinkerbell--docs-references-hardware.yaml")
    hardware.write_text(yaml.safe_dump(hw))
    secret = tmp_path / "secret.yaml"
    secret.write_text(yaml.safe_dump(REFERENCE_SECRET))
    template = corpus_dir("templates") / "tinkerbell--docs-references-template.yaml"
    out = io.StringIO()

    call_command(
        "render_template", str(template), "--hardware", str(hardware), "--references",
        str(secret), "--map", "device_1=52:54:00:41:05:c6", stdout=out,
    )  # fmt: skip

    assert 'command: ["echo", "admin"]' in out.getvalue()

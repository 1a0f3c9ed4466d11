"""Tinkerbell ``Template`` and ``Workflow`` documents into Rackpilot.

  Template  metadata.name                    Template.name (match key)
            spec.data                        Template.body, verbatim; its Go template syntax
                                             is checked before anything is written
  Workflow  spec.templateRef                 the Template (in Rackpilot or earlier in the file)
            spec.hardwareRef                 the machine, by hostname (likewise); without it,
                                             the machine a hardwareMap value names (device_1
                                             first): an interface's MAC or a Hardware agentID
            spec.hardwareMap                 Workflow.hardware_map (default: device_1 is the
                                             boot interface's MAC); every key is kept
            spec.bootOptions                 see boot_options.py

A Workflow document always creates a new workflow: it is one run on one machine, and the
machine must not have an unfinished one. Template positions in problems are line:column within
``spec.data``, since the document's place in the file is not known here.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from django.core.exceptions import ValidationError

from inventory.fields import normalize_mac
from inventory.models import Machine, NetworkInterface
from inventory.power.services import PowerBusyError
from rackpilot.core.actors import Actor
from tinkerbell.formats.boot_options import BootPlan, read_boot_options
from tinkerbell.formats.documents import (
    API_VERSION,
    RESERVED_KEY,
    Document,
    DocumentProblems,
    ImportContext,
    ImportedObject,
    Step,
    _Reader,
    register_kind,
)
from workflows.models import Template, Workflow
from workflows.rendering import check_template_syntax
from workflows.services.engine import MachineBusy, workflow_create
from workflows.services.templates import template_create, template_update
from workflows.states import WORKFLOW_UNFINISHED

TEMPLATE_SPEC_KEYS = {"data", "secretRef"}
WORKFLOW_SPEC_KEYS = {"disabled", "templateRef", "hardwareRef", "hardwareMap", "bootOptions"}
# What Template and Hardware documents claim in the ImportContext (their names), so that a
# Workflow can refer to one defined earlier in the same file.
TEMPLATE_KEY = "Template"
HARDWARE_KEY = "Hardware"


def _ignore_unknown(
    spec: dict[str, Any], known: set[str], kind: str, warn: Callable[[str], None]
) -> None:
    for key in spec:
        if key not in known:
            warn(f"spec.{key}: not a {kind} field; ignored")


# --- Template ----------------------------------------------------------------------------------


def _apply_template(name: str, body: str, actor: Actor) -> ImportedObject:
    existing = Template.objects.filter(name=name).first()
    try:
        if existing is None:
            template_create(actor=actor, name=name, body=body)
            action = "created"
        elif existing.body == body:
            action = "unchanged"
        else:
            template_update(template=existing, actor=actor, body=body)
            action = "updated"
    except ValidationError as exc:
        paths = {"name": "metadata.name", "body": "spec.data"}
        items = getattr(exc, "message_dict", {"__all__": exc.messages})
        raise DocumentProblems(
            [(paths.get(f, "metadata.name"), m) for f, msgs in items.items() for m in msgs]
        ) from exc
    return ImportedObject(kind="Template", name=name, action=action)


class TemplateKind:
    kind = "Template"
    api_version = API_VERSION
    apply_order = 20  # after Hardware, before the Workflows that use it

    def plan(self, doc: Document, context: ImportContext, warn: Callable[[str], None]) -> Step:
        reader = _Reader(warn)
        body = copy.deepcopy(doc.body)
        name = reader.clean(Template, "name", doc.name, "metadata.name")
        spec = reader.take(body, "spec", "spec", dict, required=True) or {}
        data = reader.take(spec, "data", "spec.data", str, required=True)
        if data is not None:
            for problem in check_template_syntax(data, name=name or "template"):
                reader.error("spec.data", f"{problem} (line:column within spec.data)")
        if spec.pop("secretRef", None) is not None:
            warn("spec.secretRef: not supported; the template cannot use .secret values")
        _ignore_unknown(spec, TEMPLATE_SPEC_KEYS, "Template", warn)
        if name is not None:
            other = context.claim((TEMPLATE_KEY, name), doc, "metadata.name")
            if other:
                reader.error("metadata.name", f"{name!r} is also defined by {other}")
        if reader.problems or name is None or data is None:
            raise DocumentProblems(reader.problems)
        return partial(_apply_template, name, data)


# --- Workflow ----------------------------------------------------------------------------------


@dataclass
class _WorkflowPlan:
    name: str
    template: str
    hostname: str
    hardware_map: dict[str, str]
    boot: BootPlan
    warn: Callable[[str], None]


def _unfinished(hostname: str) -> Workflow | None:
    return (
        Workflow.objects.filter(machine__hostname=hostname, state__in=WORKFLOW_UNFINISHED)
        .order_by("pk")
        .first()
    )


def _read_workflow(doc: Document, reader: _Reader, warn: Callable[[str], None]) -> _WorkflowPlan:
    body = copy.deepcopy(doc.body)
    spec = reader.take(body, "spec", "spec", dict, required=True) or {}
    template = reader.take(spec, "templateRef", "spec.templateRef", str, required=True) or ""
    hostname = reader.take(spec, "hardwareRef", "spec.hardwareRef", str) or ""
    mapping = reader.take(spec, "hardwareMap", "spec.hardwareMap", dict) or {}
    for key, value in mapping.items():
        if not isinstance(value, str):
            # An unquoted MAC of digits only reads as a YAML 1.1 number.
            reader.error(f"spec.hardwareMap.{key}", f"expected a string (quote it), got {value!r}")
    if reader.take(spec, "disabled", "spec.disabled", bool):
        reader.error("spec.disabled", "Rackpilot has no disabled workflows; leave the document out")
    boot = read_boot_options(spec, reader, warn)
    _ignore_unknown(spec, WORKFLOW_SPEC_KEYS | {"bootOpts"}, "Workflow", warn)
    return _WorkflowPlan(
        name=doc.name or "",
        template=template,
        hostname=hostname,
        hardware_map=dict(mapping),
        boot=boot,
        warn=warn,
    )


def _mac(value: str) -> str | None:
    try:
        return normalize_mac(value)
    except ValidationError:
        return None  # an agent id, not a MAC


def _named_in_file(value: str, context: ImportContext) -> str | None:
    """The Hardware of this import that ``value`` names by a MAC or its agentID."""
    for doc in context.documents:
        spec = doc.body.get("spec") if isinstance(doc.body, dict) else None
        if doc.body.get("kind") != HARDWARE_KEY or not isinstance(spec, dict):
            continue
        if spec.get("agentID") == value:
            return doc.name
        for nic in spec.get("interfaces") or []:
            dhcp = nic.get("dhcp") if isinstance(nic, dict) else None
            mac = dhcp.get("mac") if isinstance(dhcp, dict) else None
            if isinstance(mac, str) and _mac(value) and _mac(mac) == _mac(value):
                return doc.name
    return None


def _named_in_inventory(value: str) -> str | None:
    mac = _mac(value)
    nic = (
        NetworkInterface.objects.filter(mac=mac).select_related("machine").first() if mac else None
    )
    if nic is not None:
        return nic.machine.hostname
    lookup = {f"metadata__{RESERVED_KEY}__spec__agentID": value}
    machine = Machine.objects.filter(**lookup).order_by("pk").first()
    return machine.hostname if machine is not None else None


def _machine_from_map(plan: _WorkflowPlan, context: ImportContext, r: _Reader) -> None:
    """Without hardwareRef, the machine a hardwareMap value names, device_1 first."""
    values = sorted(plan.hardware_map.items(), key=lambda item: item[0] != "device_1")
    for _, value in values:
        if isinstance(value, str) and value:
            hostname = _named_in_file(value, context) or _named_in_inventory(value)
            if hostname:
                plan.hostname = hostname
                return
    r.error(
        "spec.hardwareRef",
        "required here: no spec.hardwareMap value is the MAC of an interface or the agentID "
        "of a Hardware in Rackpilot or in this file",
    )


def worker_machines(ids: Any) -> dict[str, Machine]:
    """Machines by their Tinkerbell agentID (the engine asks for workers that are no MAC)."""
    found: dict[str, Machine] = {}
    lookup = f"metadata__{RESERVED_KEY}__spec__agentID__in"
    for machine in Machine.objects.filter(**{lookup: list(ids)}).prefetch_related("interfaces"):
        found.setdefault(machine.metadata[RESERVED_KEY]["spec"]["agentID"], machine)
    return found


def _check_references(
    plan: _WorkflowPlan, doc: Document, context: ImportContext, r: _Reader
) -> None:
    other = context.claim(("Workflow", plan.name), doc, "metadata.name")
    if other:
        r.error("metadata.name", f"{plan.name!r} is also defined by {other}")
    if plan.template and not (
        context.claimed((TEMPLATE_KEY, plan.template))
        or Template.objects.filter(name=plan.template).exists()
    ):
        r.error(
            "spec.templateRef",
            f"no Template {plan.template!r} in Rackpilot or earlier in this file",
        )
    if not plan.hostname:
        _machine_from_map(plan, context, r)
    if not plan.hostname:
        return
    if not (
        context.claimed((HARDWARE_KEY, plan.hostname))
        or Machine.objects.filter(hostname=plan.hostname).exists()
    ):
        r.error(
            "spec.hardwareRef",
            f"no Hardware {plan.hostname!r} in Rackpilot or earlier in this file",
        )
        return
    current = _unfinished(plan.hostname)
    if current is not None:
        r.error(
            "spec.hardwareRef",
            f"{plan.hostname} already has an unfinished workflow (#{current.pk}, {current.state})",
        )
    other = context.claim(("Workflow machine", plan.hostname), doc, "spec.hardwareRef")
    if other:
        r.error("spec.hardwareRef", f"{plan.hostname} also gets a workflow from {other}")


_WORKFLOW_PATHS = {
    "boot_into_pxe": "spec.bootOptions.bootMode",
    "boot_power": "spec.bootOptions.custombootConfig",
    "template": "spec.templateRef",
    "machine": "spec.hardwareRef",
    "hardware_map": "spec.hardwareMap",
}


def _apply_workflow(plan: _WorkflowPlan, actor: Actor) -> ImportedObject:
    template = Template.objects.filter(name=plan.template).first()
    machine = Machine.objects.filter(hostname=plan.hostname).first()
    if template is None or machine is None:
        # Only when the document that defines it failed too; its own problem says why.
        missing = ("spec.templateRef", plan.template) if template is None else None
        missing = missing or ("spec.hardwareRef", plan.hostname)
        raise DocumentProblems([(missing[0], f"{missing[1]!r} was not imported")])
    try:
        workflow = workflow_create(
            template=template,
            machine=machine,
            actor=actor,
            hardware_map=plan.hardware_map or None,
            disable_pxe_on_success=plan.boot.disable_pxe_on_success,
            enable_pxe_at_start=plan.boot.enable_pxe_at_start,
            boot_into_pxe=plan.boot.boot_into_pxe,
            boot_power=plan.boot.boot_power,
            imported_name=plan.name,
        )
    except MachineBusy as exc:
        raise DocumentProblems([("spec.hardwareRef", str(exc))]) from exc
    except PowerBusyError as exc:
        raise DocumentProblems([(f"{plan.boot.path}.bootMode", str(exc))]) from exc
    except ValidationError as exc:
        items = getattr(exc, "message_dict", {"__all__": exc.messages})
        problems = []
        for field, messages in items.items():
            path = _WORKFLOW_PATHS.get(field, "spec")
            for message in messages:
                if field == "template":
                    # Rendering problems are positioned in the template's body.
                    message = f"rendering {template.name} for {machine.hostname}: {message}"
                problems.append((path, message))
        raise DocumentProblems(problems) from exc
    for warning in workflow_warnings(workflow):
        plan.warn(f"rendering {template.name}: {warning}")
    return ImportedObject(
        kind="Workflow",
        name=f"{plan.name} (#{workflow.pk} on {machine.hostname})",
        action="created",
    )


def workflow_warnings(workflow: Workflow) -> list[str]:
    """The defaults the rendered workflow took (kept in its spec by the engine)."""
    return [str(w) for w in workflow.spec.get("warnings", [])] if workflow.spec else []


class WorkflowKind:
    kind = "Workflow"
    api_version = API_VERSION
    apply_order = 30  # after the Hardware and Templates it refers to

    def plan(self, doc: Document, context: ImportContext, warn: Callable[[str], None]) -> Step:
        reader = _Reader(warn)
        plan = _read_workflow(doc, reader, warn)
        _check_references(plan, doc, context, reader)
        if reader.problems:
            raise DocumentProblems(reader.problems)
        return partial(_apply_workflow, plan)


register_kind(TemplateKind())
register_kind(WorkflowKind())

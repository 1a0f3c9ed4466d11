"""What a workflow needs before it is written: the machine may start one, the template renders
for it, every worker is known, and (to boot it into PXE) its BMC is there and free.

Nothing here writes, so a bulk start can check every machine before it creates anything.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError

from inventory.fields import normalize_mac
from inventory.models import BMC, Machine, NetworkInterface
from inventory.power.services import power_check_idle
from inventory.states import MachineState
from rackpilot.core.api.errors import ConflictError
from workflows.models import Template, Workflow
from workflows.rendering import RenderedWorkflow, TemplateRenderError, render_for_machine
from workflows.states import WORKFLOW_UNFINISHED

# Machines a new workflow may start on; `failed` walks back through `ready` when it starts.
STARTABLE_MACHINE_STATES = {MachineState.READY, MachineState.FAILED}


class MachineBusy(ConflictError):
    code = "machine_busy"


def default_hardware_map(machine: Machine) -> dict[str, str]:
    boot = next((nic for nic in machine.interfaces.all() if nic.is_boot), None)
    boot = boot or next(iter(machine.interfaces.all()), None)
    return {"device_1": boot.mac} if boot is not None else {}


def _check_machine_can_start(machine: Machine) -> None:
    if not machine.allow_workflow:
        raise ValidationError(
            {"machine": f"Workflows are not allowed on {machine.hostname} (allow_workflow is off)."}
        )
    if machine.state not in STARTABLE_MACHINE_STATES:
        raise ValidationError(
            {
                "machine": f"{machine.hostname} is {machine.state}; a workflow starts on a ready "
                "or failed machine."
            }
        )
    busy = Workflow.objects.filter(machine=machine, state__in=WORKFLOW_UNFINISHED)
    current = busy.first()
    if current is not None:
        raise MachineBusy(
            f"{machine.hostname} already has an unfinished workflow (#{current.pk}, "
            f"{current.state})."
        )


def _render(template: Template, machine: Machine, hardware_map: dict[str, str]) -> RenderedWorkflow:
    try:
        return render_for_machine(body=template.body, machine=machine, hardware_map=hardware_map)
    except TemplateRenderError as exc:
        raise ValidationError({"template": [str(problem) for problem in exc.problems]}) from exc


# Agent ids other than a MAC that name a machine (Tinkerbell's Hardware spec.agentID): the
# tinkerbell app sets it from its AppConfig.ready. Takes the ids, returns {id: machine}.
WorkerIds = Callable[[Iterable[str]], dict[str, Machine]]
_worker_ids: WorkerIds | None = None


def register_worker_ids(resolve: WorkerIds) -> None:
    global _worker_ids
    _worker_ids = resolve


def _boot_mac(machine: Machine) -> str | None:
    nics = list(machine.interfaces.all())
    boot = next((nic for nic in nics if nic.is_boot), None) or next(iter(nics), None)
    return boot.mac if boot is not None else None


def _known_macs(workers: Iterable[str]) -> set[str]:
    """The workers that are interfaces' MACs (as written: a task names its worker verbatim)."""
    macs = set()
    for worker in workers:
        try:
            normalize_mac(worker)
        except ValidationError:
            continue  # not a MAC at all: no interface can have it
        macs.add(worker)
    return set(NetworkInterface.objects.filter(mac__in=macs).values_list("mac", flat=True))


def _map_agent_ids(rendered: RenderedWorkflow) -> None:
    """A worker that is no interface's MAC but a machine's agent id runs on that machine: its
    agent says who it is by its boot MAC, so the task is given that MAC. An id naming no
    machine is refused with the task's name."""
    workers = {task.worker for task in rendered.tasks}
    macs = _known_macs(workers)
    others = workers - macs
    if not others:
        return
    owners = _worker_ids(others) if _worker_ids is not None else {}
    unknown = []
    for task in rendered.tasks:
        if task.worker in macs:
            continue
        owner = owners.get(task.worker)
        mac = _boot_mac(owner) if owner is not None else None
        if mac is None:
            unknown.append(f"task '{task.name}': worker '{task.worker}'")
        else:
            task.worker = mac
    if unknown:
        raise ValidationError(
            {
                "hardware_map": f"{'; '.join(unknown)} names no machine (neither an interface's "
                "MAC nor a machine's agent id)."
            }
        )


def _check_workers(rendered: RenderedWorkflow, machine: Machine) -> None:
    """Every task's worker must be an interface we know, or no agent could ever run it, and
    belong to a machine that may run this workflow: the workflow's own machine (checked above),
    or another that allows workflows and is ready. Otherwise a hardware_map could aim actions
    at any machine's MAC."""
    workers = {task.worker for task in rendered.tasks}
    interfaces = NetworkInterface.objects.filter(mac__in=workers).select_related("machine")
    owners = {nic.mac: nic.machine for nic in interfaces}
    unknown = sorted(workers - owners.keys())
    if unknown:
        raise ValidationError(
            {"hardware_map": f"Worker(s) {', '.join(unknown)} match no machine's interface."}
        )
    refused = sorted(
        f"{mac} ({owner.hostname}: {_worker_refusal(owner)})"
        for mac, owner in owners.items()
        if owner.pk != machine.pk and _worker_refusal(owner)
    )
    if refused:
        raise ValidationError(
            {"hardware_map": f"Worker(s) {', '.join(refused)} may not run this workflow."}
        )


def _worker_refusal(owner: Machine) -> str:
    if not owner.allow_workflow:
        return "allow_workflow is off"
    if owner.state not in STARTABLE_MACHINE_STATES:
        return f"it is {owner.state}"
    return ""


@dataclass
class WorkflowPlan:
    template: Template
    machine: Machine
    hardware_map: dict[str, str]
    rendered: RenderedWorkflow


def workflow_plan(
    *, template: Template, machine: Machine, hardware_map: dict[str, str] | None = None
) -> WorkflowPlan:
    """Everything ``workflow_create`` checks, without writing (bulk creation validates first)."""
    _check_machine_can_start(machine)
    mapping = dict(hardware_map) if hardware_map else default_hardware_map(machine)
    if not all(isinstance(k, str) and isinstance(v, str) for k, v in mapping.items()):
        raise ValidationError({"hardware_map": "Keys and values must be strings."})
    rendered = _render(template, machine, mapping)
    _map_agent_ids(rendered)
    _check_workers(rendered, machine)
    return WorkflowPlan(template=template, machine=machine, hardware_map=mapping, rendered=rendered)


def check_boot_into_pxe(machine: Machine) -> None:
    """A workflow that boots the machine into PXE needs a BMC to do it with, and one free to
    take the power cycle: PowerBusyError names the job still queued or running. The caller
    holds the machine's lock, which every power request takes too."""
    if not BMC.objects.filter(machine=machine).exists():
        raise ValidationError(
            {
                "boot_into_pxe": f"{machine.hostname} has no BMC: Rackpilot cannot power-cycle "
                "it into PXE (boot it by hand, or add its BMC)."
            }
        )
    power_check_idle(machine=machine)

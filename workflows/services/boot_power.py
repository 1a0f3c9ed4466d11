"""The power jobs a workflow asks for to boot its machine, and what their outcome does to it.

Tinkerbell's ``bootOptions``: ``bootMode: netboot`` power-cycles the machine into PXE when the
workflow is created; ``customboot`` queues one job at the start and one after success. Each job
carries ``purpose = "workflow:<id>:<phase>"``, so that when it ends the listener below finds
its workflow:

- a start job (netboot or custom boot) that fails fails the pending workflow, with the BMC's
  message as the reason: the machine was never booted, nothing would ever run; a retry asks
  for the job again;
- a job after success that fails leaves the workflow a success and says so in its events.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import transaction

from inventory.models import PowerJob
from inventory.power.services import power_job_request
from inventory.states import PowerJobState
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from workflows.models import Workflow
from workflows.states import WorkflowState

START_PHASES = {"netboot", "start"}
POWER = Actor.system("power")


def purpose_of(workflow: Workflow, phase: str) -> str:
    return f"workflow:{workflow.pk}:{phase}"


def power_cycle_into_pxe(workflow: Workflow, *, actor: Actor) -> None:
    try:
        power_job_request(
            machine=workflow.machine,
            action=PowerJob.Action.CYCLE,
            boot_device=PowerJob.BootDevice.PXE,
            actor=actor,
            reason=f"boot into PXE for workflow #{workflow.pk}",
            purpose=purpose_of(workflow, "netboot"),
        )
    except ValidationError as exc:
        # The power service names its own field (bmc); here the option is what failed.
        raise ValidationError({"boot_into_pxe": exc.messages}) from exc


def queue_boot_power_job(workflow: Workflow, phase: str, *, actor: Actor) -> None:
    """Queue the custom-boot power job of ``phase`` ("start" or "success"), if there is one."""
    job = workflow.boot_power.get(phase) if isinstance(workflow.boot_power, dict) else None
    if not job:
        return
    try:
        power_job_request(
            machine=workflow.machine,
            action=job["action"],
            boot_device=job.get("boot_device", ""),
            persistent=bool(job.get("persistent")),
            actor=actor,
            reason=f"custom boot ({phase}) of workflow #{workflow.pk}",
            purpose=purpose_of(workflow, phase),
        )
    except ValidationError as exc:
        raise ValidationError({"boot_power": exc.messages}) from exc


def _parse_purpose(purpose: str) -> tuple[int, str] | None:
    kind, _, rest = purpose.partition(":")
    number, _, phase = rest.partition(":")
    if kind != "workflow" or not number.isdigit() or not phase:
        return None
    return int(number), phase


def on_power_job_ended(job: PowerJob) -> None:
    """The power services' listener (registered in WorkflowsConfig.ready)."""
    parsed = _parse_purpose(job.purpose)
    if parsed is None or job.state != PowerJobState.FAILED:
        return
    workflow_id, phase = parsed
    # Imported here: the engine imports this module for the requests above.
    from workflows.services.engine import locked_workflow, workflow_end

    workflow = Workflow.objects.filter(pk=workflow_id).first()
    if workflow is None:
        return
    workflow = locked_workflow(workflow)
    what = f"{job.get_action_display().lower()} (power job #{job.pk})"
    if phase in START_PHASES and workflow.state == WorkflowState.PENDING:
        with transaction.atomic():
            workflow_end(
                workflow=workflow,
                target=WorkflowState.FAILED,
                actor=POWER,
                action=None,
                reason={
                    "message": f"the machine was not booted: {what} failed: {job.error}",
                    "power_job": job.pk,
                },
            )
        return
    record_event(
        actor=POWER,
        verb="workflow.boot_power_failed",
        obj=workflow,
        machine=workflow.machine_id,
        message=f"{what} for the {phase} of the workflow failed: {job.error}",
    )

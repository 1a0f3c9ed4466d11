"""The workflow engine: create, start, finish, cancel, retry, re-run, enforce timeouts.

Lock order, everywhere: machine → workflow → action. Live updates are published after the
commit (live.py: agents are told "work available" / "cancel"; browsers get the new states).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone

from inventory import services as inventory_services
from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.events import record_event
from rackpilot.core.services import lock
from rackpilot.core.sql import save_fields
from workflows.models import Action, LogLine, Task, Template, Workflow
from workflows.rendering import RenderedWorkflow
from workflows.selectors import ActionProgress, unsucceeded_action_exists
from workflows.services.boot_power import power_cycle_into_pxe, queue_boot_power_job
from workflows.services.live import announce_work, publish_state, tell_agent_to_stop
from workflows.services.planning import STARTABLE_MACHINE_STATES as STARTABLE_MACHINE_STATES
from workflows.services.planning import (
    MachineBusy,
    WorkflowPlan,
    check_boot_into_pxe,
    workflow_plan,
)
from workflows.services.planning import default_hardware_map as default_hardware_map
from workflows.states import (
    ACTION_LIFECYCLE,
    WORKFLOW_LIFECYCLE,
    WORKFLOW_RETRYABLE,
    WORKFLOW_UNFINISHED,
    ActionState,
    WorkflowState,
)

FAILURE_LOG_LINES = 20


# --- creating ---------------------------------------------------------------------------------
# The checks before a workflow is written live in planning.py; the names callers know as the
# engine's (default_hardware_map, STARTABLE_MACHINE_STATES, MachineBusy) are imported above.


def _create_tasks_and_actions(workflow: Workflow, rendered: RenderedWorkflow) -> None:
    """The rendered tasks, and their actions numbered in run order across tasks."""
    position = 0
    actions: list[Action] = []
    for task_order, rendered_task in enumerate(rendered.tasks):
        task = Task.objects.create(
            workflow=workflow,
            name=rendered_task.name,
            worker=rendered_task.worker,
            volumes=rendered_task.volumes,
            environment=rendered_task.environment,
            order=task_order,
        )
        for rendered_action in rendered_task.actions:
            actions.append(
                Action(
                    task=task,
                    name=rendered_action.name,
                    image=rendered_action.image,
                    command=rendered_action.command,
                    timeout=rendered_action.timeout,
                    environment=rendered_action.environment,
                    volumes=rendered_action.volumes,
                    pid=rendered_action.pid,
                    on_failure=rendered_action.on_failure,
                    on_timeout=rendered_action.on_timeout,
                    order=position,
                )
            )
            position += 1
    Action.objects.bulk_create(actions)


def _warnings(rendered: RenderedWorkflow) -> dict[str, Any]:
    return {"warnings": [str(w) for w in rendered.warnings]} if rendered.warnings else {}


def _workflow_from_plan(
    plan: WorkflowPlan,
    *,
    actor: Actor,
    disable_pxe_on_success: bool,
    rerun_of: Workflow | None,
    boot_into_pxe: bool = False,
    enable_pxe_at_start: bool = False,
    boot_power: dict[str, Any] | None = None,
    imported_name: str = "",
) -> Workflow:
    rendered = plan.rendered
    workflow = Workflow.objects.create(
        template=plan.template,
        machine=plan.machine,
        hardware_map=plan.hardware_map,
        template_body=plan.template.body,
        rendered=rendered.text,
        # Defaults the rendering took (a missing timeout...), for the import's report.
        spec={**rendered.as_json(), **_warnings(rendered)},
        global_timeout=rendered.global_timeout,
        disable_pxe_on_success=disable_pxe_on_success,
        boot_into_pxe=boot_into_pxe,
        boot_power=boot_power or {},
        rerun_of=rerun_of,
        imported_name=imported_name,
        created_by_id=actor.user_id,
    )
    _create_tasks_and_actions(workflow, rendered)
    if enable_pxe_at_start and not plan.machine.allow_pxe:
        # Tinkerbell's toggleAllowNetboot: netboot on for the run, off again after success.
        inventory_services.machine_update(machine=plan.machine, actor=actor, allow_pxe=True)
    record_event(
        actor=actor,
        verb="workflow.created",
        obj=workflow,
        machine=plan.machine,
        changes={"template": [None, plan.template.name], "hardware_map": [None, plan.hardware_map]},
        message=f"rerun of #{rerun_of.pk}" if rerun_of else "",
    )
    if boot_into_pxe:
        power_cycle_into_pxe(workflow, actor=actor)
    queue_boot_power_job(workflow, "start", actor=actor)
    announce_work(workflow)
    publish_state(workflow)
    return workflow


@transaction.atomic
def workflow_create(
    *,
    template: Template,
    machine: Machine,
    actor: Actor,
    hardware_map: dict[str, str] | None = None,
    disable_pxe_on_success: bool = False,
    boot_into_pxe: bool = False,
    rerun_of: Workflow | None = None,
    enable_pxe_at_start: bool = False,
    boot_power: dict[str, Any] | None = None,
    imported_name: str = "",
) -> Workflow:
    """``boot_power``: Workflow.boot_power, power jobs queued at the start and on success;
    ``imported_name``: the name of the document an import created it from."""
    machine = lock(machine)
    plan = workflow_plan(template=template, machine=machine, hardware_map=hardware_map)
    return _workflow_from_plan(
        plan,
        actor=actor,
        disable_pxe_on_success=disable_pxe_on_success,
        boot_into_pxe=boot_into_pxe,
        rerun_of=rerun_of,
        enable_pxe_at_start=enable_pxe_at_start,
        boot_power=boot_power,
        imported_name=imported_name,
    )


@dataclass
class BulkResult:
    created: list[Workflow] = field(default_factory=list)
    refused: list[tuple[Machine, str]] = field(default_factory=list)


def _refusal_text(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(exc.messages)
    return str(exc)


@transaction.atomic
def workflow_bulk_create(
    *,
    template: Template,
    machines: QuerySet[Machine],
    actor: Actor,
    skip_refused: bool = False,
    disable_pxe_on_success: bool = False,
    boot_into_pxe: bool = False,
) -> BulkResult:
    """One workflow per machine. Every machine is validated first; with a refusal nothing is
    created unless ``skip_refused`` asks to start the others anyway."""
    result = BulkResult()
    plans: list[WorkflowPlan] = []
    locked = list(
        # What rendering reads of each machine (its Hardware document), fetched once for all.
        machines.select_for_update(of=("self",))
        .prefetch_related("interfaces", "disks", "bmc")
        .order_by("pk")
    )
    for machine in locked:
        try:
            if boot_into_pxe:
                check_boot_into_pxe(machine)
            plans.append(workflow_plan(template=template, machine=machine))
        except (ValidationError, ConflictError) as exc:
            result.refused.append((machine, _refusal_text(exc)))
    if result.refused and not skip_refused:
        return result
    for plan in plans:
        try:
            # A savepoint each: a machine refused only now (say, a power job or a row written
            # past its lock, caught by a constraint) takes back its own rows, not the others'.
            with transaction.atomic():
                workflow = _workflow_from_plan(
                    plan,
                    actor=actor,
                    disable_pxe_on_success=disable_pxe_on_success,
                    boot_into_pxe=boot_into_pxe,
                    rerun_of=None,
                )
        except (ValidationError, ConflictError, IntegrityError) as exc:
            result.refused.append((plan.machine, _refusal_text(exc)))
        else:
            result.created.append(workflow)
    if result.refused and not skip_refused:
        # All or nothing was asked for: the machines written before the refusal go back too.
        transaction.set_rollback(True)
        result.created.clear()
    return result


# --- machine follows its workflow ---------------------------------------------------------------


def _machine_to(machine: Machine, target: str, *, actor: Actor, reason: str) -> None:
    """Walk the machine's lifecycle towards ``target`` along allowed edges only."""
    detours: dict[tuple[str, str], list[str]] = {
        (MachineState.FAILED, MachineState.PROVISIONING): [
            MachineState.READY,
            MachineState.PROVISIONING,
        ],
    }
    path = detours.get((machine.state, target), [target])
    for step in path:
        if machine.state == step:
            continue
        machine = inventory_services.machine_transition(
            machine=machine, actor=actor, target=step, reason=reason
        )


# --- running --------------------------------------------------------------------------------


def _set_action_state(action: Action, target: str) -> None:
    ACTION_LIFECYCLE.check(action.state, target)
    action.state = target


def _set_workflow_state(workflow: Workflow, target: str) -> None:
    WORKFLOW_LIFECYCLE.check(workflow.state, target)
    workflow.state = target


def action_start(
    *,
    workflow: Workflow,
    action: Action,
    actor: Actor,
    at: datetime,
    also_save: tuple[str, ...] = (),
) -> None:
    """The agent started the action. Caller holds the locks and checked the order.
    ``also_save``: fields the caller set on the action, written in the same UPDATE."""
    _set_action_state(action, ActionState.RUNNING)
    action.started_at = at
    save_fields(action, ["state", "started_at", *also_save])
    if workflow.state == WorkflowState.PENDING:
        _set_workflow_state(workflow, WorkflowState.RUNNING)
        workflow.started_at = at
        workflow.save(update_fields=["state", "started_at", "updated_at"])
        record_event(
            actor=actor, verb="workflow.started", obj=workflow, machine=workflow.machine_id
        )
        machine = Machine.objects.select_for_update().get(pk=workflow.machine_id)
        if machine.state != MachineState.PROVISIONING:
            _machine_to(
                machine, MachineState.PROVISIONING, actor=actor, reason=f"workflow #{workflow.pk}"
            )
    publish_state(workflow, action)


def _last_lines(action: Action, count: int = FAILURE_LOG_LINES) -> list[str]:
    lines = LogLine.objects.filter(action=action, attempt=action.attempt).order_by("-seq")
    return [line.text for line in reversed(lines[:count])]


def _skip_remaining(workflow: Workflow) -> None:
    Action.objects.filter(task__workflow=workflow, state=ActionState.PENDING).update(
        state=ActionState.SKIPPED
    )


def workflow_end(
    *,
    workflow: Workflow,
    target: str,
    actor: Actor,
    action: Action | None,
    reason: dict[str, Any] | None = None,
) -> None:
    """Finish a running/pending workflow. Caller holds the workflow lock."""
    previous = workflow.state
    _set_workflow_state(workflow, target)
    workflow.finished_at = timezone.now()
    if target != WorkflowState.SUCCESS:
        _skip_remaining(workflow)
        failure: dict[str, Any] = {"state": target, **(reason or {})}
        if action is not None:
            failure.update(
                {
                    "action": action.name,
                    "action_id": action.pk,
                    "task": action.task.name,
                    "attempt": action.attempt,
                    "exit_code": action.exit_code,
                    "message": action.message,
                    "last_lines": _last_lines(action),
                }
            )
        workflow.failure_reason = failure
    workflow.save(update_fields=["state", "finished_at", "failure_reason", "updated_at"])
    record_event(
        actor=actor,
        verb=f"workflow.{target}",
        obj=workflow,
        machine=workflow.machine_id,
        changes={"state": [previous, target]},
        message=str(workflow.failure_reason.get("message", "")) if workflow.failure_reason else "",
    )
    machine = Machine.objects.select_for_update().get(pk=workflow.machine_id)
    if machine.state == MachineState.PROVISIONING:
        final = MachineState.PROVISIONED if target == WorkflowState.SUCCESS else MachineState.FAILED
        _machine_to(machine, final, actor=actor, reason=f"workflow #{workflow.pk} {target}")
    if target == WorkflowState.SUCCESS and workflow.disable_pxe_on_success and machine.allow_pxe:
        inventory_services.machine_update(machine=machine, actor=actor, allow_pxe=False)
    if target == WorkflowState.SUCCESS and workflow.boot_power.get("success"):
        try:
            with transaction.atomic():  # a refused job leaves nothing half-written
                queue_boot_power_job(workflow, "success", actor=actor)
        except (ValidationError, ConflictError) as exc:
            # The workflow did succeed: the power job that was to follow it is what failed.
            record_event(
                actor=actor,
                verb="workflow.boot_power_failed",
                obj=workflow,
                machine=workflow.machine_id,
                message=_refusal_text(exc),
            )
    publish_state(workflow, action)


def action_finish(
    *,
    workflow: Workflow,
    action: Action,
    target: str,
    actor: Actor,
    at: datetime,
    exit_code: int | None,
    message: str,
    reaction: dict[str, Any] | None = None,
    also_save: tuple[str, ...] = (),
    told_machine_id: int | None = None,
    progress: ActionProgress | None = None,
) -> None:
    """A running action ended (agent report or server-side timeout). Caller holds the locks.
    ``also_save``: fields the caller set on the action, written in the same UPDATE;
    ``told_machine_id``: the reporting agent's machine, which learns its next action from the
    answer to its report instead of a push; ``progress``: the workflow around the action, read
    by the caller under the same locks (a group of reports reads it for all at once)."""
    _set_action_state(action, target)
    action.finished_at = at
    action.exit_code = exit_code
    action.message = message
    action.reaction = reaction or {}
    save_fields(action, ["state", "finished_at", "exit_code", "message", "reaction", *also_save])
    if target == ActionState.SUCCESS:
        others_left = (
            progress.unsucceeded_besides
            if progress is not None
            else unsucceeded_action_exists(workflow.pk)
        )
        if not others_left:
            workflow_end(
                workflow=workflow, target=WorkflowState.SUCCESS, actor=actor, action=action
            )
        else:
            announce_work(
                workflow,
                told_machine_id=told_machine_id,
                machine_ids=progress.worker_machine_ids if progress is not None else None,
            )
            publish_state(workflow, action)
        return
    workflow_target = (
        WorkflowState.TIMEOUT if target == ActionState.TIMEOUT else WorkflowState.FAILED
    )
    workflow_end(workflow=workflow, target=workflow_target, actor=actor, action=action)


# --- operator commands --------------------------------------------------------------------------


def locked_workflow(workflow: Workflow) -> Workflow:
    """Lock the workflow's machine, then the workflow (the engine's lock order)."""
    lock = Machine.objects.select_for_update().filter(pk=workflow.machine_id).order_by()
    list(lock.values_list("pk"))
    return Workflow.objects.select_for_update().select_related("machine").get(pk=workflow.pk)


@transaction.atomic
def workflow_cancel(*, workflow: Workflow, actor: Actor, reason: str = "") -> Workflow:
    """Stop a workflow: the running action is told to stop, the remaining ones are skipped."""
    workflow = locked_workflow(workflow)
    running = (
        Action.objects.select_for_update()
        .select_related("task")
        .filter(task__workflow=workflow, state=ActionState.RUNNING)
        .first()
    )
    WORKFLOW_LIFECYCLE.check(workflow.state, WorkflowState.CANCELLED)
    message = f"cancelled by {actor.name}" + (f": {reason}" if reason else "")
    if running is not None:
        _set_action_state(running, ActionState.FAILED)
        running.finished_at = timezone.now()
        running.message = message
        running.save(update_fields=["state", "finished_at", "message"])
        tell_agent_to_stop(running)
    workflow_end(
        workflow=workflow,
        target=WorkflowState.CANCELLED,
        actor=actor,
        action=running,
        reason={"message": message, "cancelled_by": actor.name},
    )
    return workflow


def _check_machine_can_run_again(workflow: Workflow) -> None:
    machine = workflow.machine
    if not machine.allow_workflow:
        raise ValidationError({"machine": f"Workflows are not allowed on {machine.hostname}."})
    other = Workflow.objects.filter(machine=machine, state__in=WORKFLOW_UNFINISHED).exclude(
        pk=workflow.pk
    )
    if other.exists():
        raise MachineBusy(f"{machine.hostname} already has an unfinished workflow.")


def _reset_unsucceeded_actions(workflow: Workflow) -> list[Action]:
    """Every action that did not succeed goes back to pending, in run order; one that had
    started gets a new attempt number, so its old log stays apart."""
    actions = list(
        Action.objects.select_for_update()
        .filter(task__workflow=workflow)
        .exclude(state=ActionState.SUCCESS)
        .order_by("order")
    )
    for action in actions:
        _set_action_state(action, ActionState.PENDING)
        if action.started_at is not None:
            action.attempt += 1
        action.started_at = action.finished_at = None
        action.exit_code = None
        action.message = ""
        action.reaction = {}
        action.log_seq = 0
    Action.objects.bulk_update(
        actions,
        ["state", "attempt", "started_at", "finished_at", "exit_code", "message", "reaction",
         "log_seq"],
    )  # fmt: skip
    return actions


@transaction.atomic
def workflow_retry(*, workflow: Workflow, actor: Actor) -> Workflow:
    """Same workflow, from the action that did not succeed: it and the ones after it go back to
    pending (the failed one with a new attempt number, so its old log stays apart)."""
    workflow = locked_workflow(workflow)
    if workflow.state not in WORKFLOW_RETRYABLE:
        WORKFLOW_LIFECYCLE.check(workflow.state, WorkflowState.PENDING)
    machine = workflow.machine
    _check_machine_can_run_again(workflow)
    actions = _reset_unsucceeded_actions(workflow)
    previous = workflow.state
    boot_failed = "power_job" in (workflow.failure_reason or {})
    _set_workflow_state(workflow, WorkflowState.PENDING)
    workflow.attempt += 1
    workflow.failure_reason = {}
    workflow.started_at = workflow.finished_at = None
    workflow.save(
        update_fields=[
            "state",
            "attempt",
            "failure_reason",
            "started_at",
            "finished_at",
            "updated_at",
        ]
    )
    record_event(
        actor=actor,
        verb="workflow.retried",
        obj=workflow,
        machine=machine,
        changes={"state": [previous, WorkflowState.PENDING]},
        message=f"from action {actions[0].name}" if actions else "",
    )
    if boot_failed:
        # It never started because the power job that was to boot it failed: ask again.
        if workflow.boot_into_pxe:
            power_cycle_into_pxe(workflow, actor=actor)
        queue_boot_power_job(workflow, "start", actor=actor)
    announce_work(workflow)
    publish_state(workflow)
    return workflow


@transaction.atomic
def workflow_rerun(*, workflow: Workflow, actor: Actor) -> Workflow:
    """A new workflow from the same template and hardware map (rendered again, now)."""
    workflow = locked_workflow(workflow)
    if not workflow.is_finished:
        raise ConflictError(f"Workflow #{workflow.pk} is {workflow.state}; re-run a finished one.")
    return workflow_create(
        template=workflow.template,
        machine=workflow.machine,
        actor=actor,
        hardware_map=workflow.hardware_map,
        disable_pxe_on_success=workflow.disable_pxe_on_success,
        # A workflow that turns netboot off when it succeeds left it off: the new run needs
        # it on again to boot the machine into Hook (Tinkerbell's toggleAllowNetboot).
        enable_pxe_at_start=workflow.disable_pxe_on_success,
        boot_into_pxe=workflow.boot_into_pxe,
        boot_power=workflow.boot_power,
        rerun_of=workflow,
    )

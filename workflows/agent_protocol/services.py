"""The server side of the agent protocol (see workflows/PROTOCOL.md).

Every function here is called by both transports (the ``/ws/agent/`` consumer and the REST
views) with the machine its token belongs to. Reports are idempotent: the same report twice is
answered like the first; a stale or out-of-order one raises ``StaleReport`` (HTTP 409 /
``error`` frame) and changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.utils import timezone

from inventory import services as inventory_services
from inventory.fields import normalize_mac
from inventory.models import Machine
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.events import batched_events, record_event
from workflows.agent_protocol import selectors
from workflows.agent_protocol.tokens import session_bind_workflow
from workflows.models import Action, AgentToken, Workflow
from workflows.selectors import ActionProgress, unsucceeded_action_exists
from workflows.services.engine import action_finish, action_start
from workflows.states import ActionState, WorkflowState

PROTOCOL_VERSION = 1
FINAL_ACTION_STATES = {ActionState.SUCCESS, ActionState.FAILED, ActionState.TIMEOUT}


class StaleReport(ConflictError):
    """A report about an attempt, state or log position the server has already moved past."""

    code = "stale_report"


# --- hello and hardware -------------------------------------------------------------------


def machine_of(token: AgentToken) -> Machine:
    if token.machine is None:
        raise PermissionDenied("this token is not bound to a machine")
    return token.machine


def _check_worker_id(machine: Machine, worker_id: str) -> str:
    try:
        mac = normalize_mac(worker_id)
    except ValidationError as exc:
        raise ValidationError({"worker_id": exc.messages}) from exc
    if not machine.interfaces.filter(mac=mac).exists():
        raise PermissionDenied(
            f"worker id {mac} is not an interface of {machine.hostname}, the token's machine"
        )
    return mac


@transaction.atomic
def agent_hello(
    *, token: AgentToken, worker_id: str, hardware: dict[str, Any] | None = None
) -> dict[str, Any]:
    machine = machine_of(token)
    mac = _check_worker_id(machine, worker_id)
    inventory_services.machine_mark_seen(machine=machine, hardware=hardware)
    record_event(actor=Actor.agent(mac), verb="agent.connected", obj=machine, machine=machine)
    return {"protocol": PROTOCOL_VERSION, "machine": machine.hostname, "worker_id": mac}


@transaction.atomic
def agent_report_hardware(*, token: AgentToken, hardware: Any) -> None:
    if not isinstance(hardware, dict):
        raise ValidationError({"hardware": "Expected an object."})
    inventory_services.machine_mark_seen(machine=machine_of(token), hardware=hardware)


# --- next action ----------------------------------------------------------------------------


def action_payload(action: Action) -> dict[str, Any]:
    task = action.task
    return {
        "workflow": task.workflow_id,
        "task": task.name,
        "worker": task.worker,
        "action": action.pk,
        "attempt": action.attempt,
        "name": action.name,
        "image": action.image,
        "command": action.command,
        "timeout": action.timeout,
        "environment": action.environment,
        "volumes": action.volumes,
        "pid": action.pid,
        "on_failure": action.on_failure,
        "on_timeout": action.on_timeout,
        "state": action.state,
        "log_seq": action.log_seq,
    }


class MachineRefusesWork(PermissionDenied):
    """The agent's machine may not run actions now (workflows off, or retired)."""


def _machine_refusal(machine: Machine) -> str:
    """Why the machine may not run actions now ("" if it may), read fresh from the database:
    a socket's token keeps the machine it was authenticated with for the whole connection."""
    # order_by(): the model's ordering would only make the one-row lookup dearer to build.
    fresh = (
        Machine.objects.filter(pk=machine.pk).order_by().values("allow_workflow", "state").first()
    )
    if fresh is None or fresh["state"] == MachineState.RETIRED:
        return f"{machine.hostname} is retired"
    if not fresh["allow_workflow"]:
        return f"{machine.hostname} does not allow workflows (allow_workflow is off)"
    return ""


def machine_next_action(*, machine: Machine, token: AgentToken | None = None) -> Action | None:
    """The action ``machine``'s agent should run now (or is running), or None — also when
    the machine was retired or had workflows turned off after the workflow was created.

    ``token`` narrows it to what the agent's session may run; an agent without one (Tinkerbell's
    tink-agent) gets the first unfinished workflow whose next step is its machine's."""
    workflow_id = token.workflow_id if token is not None else None
    # A discovery session: the first workflow an operator or a rule starts on the machine;
    # the session is that workflow's from the first action on.
    discovery_session = token is not None and is_discovery_session(token)
    action = selectors.next_action(
        machine_id=machine.pk, workflow_id=workflow_id, own_workflows_only=discovery_session
    )
    if action is not None and discovery_session:
        assert token is not None
        workflow = Workflow.objects.get(pk=action.task.workflow_id)
        session_bind_workflow(token=token, workflow=workflow)
    return action


def agent_next_action(*, token: AgentToken) -> dict[str, Any] | None:
    action = machine_next_action(machine=machine_of(token), token=token)
    return None if action is None else action_payload(action)


def agents_next_actions(tokens: Sequence[AgentToken]) -> list[dict[str, Any] | None]:
    """``agent_next_action`` for many agents (a group of reports' finished actions), read
    together. Not for discovery sessions, which are bound to the workflow they are given."""
    requests: list[tuple[int, int | None]] = []
    for token in tokens:
        if is_discovery_session(token):
            raise ValueError("a discovery session's next action is read on its own")
        requests.append((machine_of(token).pk, token.workflow_id))
    found = selectors.next_actions(requests)
    return [None if (action := found[key]) is None else action_payload(action) for key in requests]


def is_discovery_session(token: AgentToken) -> bool:
    return token.workflow_id is None and token.purpose == AgentToken.Purpose.SESSION


# --- reports ---------------------------------------------------------------------------------


@dataclass
class ActionReport:
    action_id: int
    attempt: int
    state: str
    exit_code: int | None = None
    message: str = ""
    # The agent's own time of the change: kept as reported, never used to measure anything.
    at: datetime | None = None
    reaction: dict[str, Any] | None = None


def _missing(action_id: int) -> ValidationError:
    return ValidationError({"action": f"No action {action_id}."})


def _not_the_worker(action_id: int) -> PermissionDenied:
    return PermissionDenied(f"action {action_id} belongs to another machine's agent")


def report_owner_checked(machine: Machine, report: ActionReport) -> selectors.ReportOwner:
    """For state reports: the report's state, what it is about, and whether ``machine``'s agent
    may send it (the action is its own; a start only while the machine may run work). One
    statement reads what the checks need; nothing is locked yet."""
    check_report_state(report)
    owner = selectors.report_owner(machine_id=machine.pk, action_id=report.action_id)
    return check_report_owner(machine, report, owner)


def check_report_state(report: ActionReport) -> None:
    if report.state not in {ActionState.RUNNING, *FINAL_ACTION_STATES}:
        raise ValidationError({"state": f"'{report.state}' is not a state an agent reports."})


def check_report_owner(
    machine: Machine, report: ActionReport, owner: selectors.ReportOwner | None
) -> selectors.ReportOwner:
    """``report_owner_checked``'s checks, on an owner already read (None: no such action)."""
    if report.state == ActionState.RUNNING:
        if owner is None:
            refusal = _machine_refusal(machine)
        elif owner.machine_retired:
            refusal = f"{machine.hostname} is retired"
        elif not owner.machine_allows_work:
            refusal = f"{machine.hostname} does not allow workflows (allow_workflow is off)"
        else:
            refusal = ""
        if refusal:
            raise MachineRefusesWork(f"{refusal}: no action may start on it")
    if owner is None:
        raise _missing(report.action_id)
    if not owner.machine_is_worker:
        raise _not_the_worker(report.action_id)
    return owner


def agent_report_action(*, token: AgentToken, report: ActionReport) -> dict[str, Any]:
    """Apply the report; the answer to a final state also carries the agent's next action
    (``next``: what ``next_action`` would answer now, None for no work), which saves the agent
    a round trip and the server a push."""
    machine = machine_of(token)
    result = machine_report_action(machine=machine, report=report, told_agent=True)
    if report.state in FINAL_ACTION_STATES:
        result["next"] = agent_next_action(token=token)
    return result


@transaction.atomic
@batched_events()  # a workflow's start or end records two or three: one INSERT
def machine_report_action(
    *,
    machine: Machine,
    report: ActionReport,
    exit_code_required: bool = True,
    told_agent: bool = False,
) -> dict[str, Any]:
    """Apply the report of ``machine``'s agent; returns the action's resulting state (the same
    for a repeat). Tinkerbell's agent reports a failure without its exit code
    (``exit_code_required=False``). ``told_agent``: the caller gives the agent its next action
    with the answer, so the machine is not also pushed ``work_available`` for it."""
    owner = report_owner_checked(machine, report)
    return apply_checked_report(
        machine=machine,
        report=report,
        owner=owner,
        exit_code_required=exit_code_required,
        told_agent=told_agent,
    )


def apply_checked_report(
    *,
    machine: Machine,
    report: ActionReport,
    owner: selectors.ReportOwner,
    exit_code_required: bool = True,
    told_agent: bool = False,
    locked: tuple[Workflow, Action] | None = None,
    progress: ActionProgress | None = None,
) -> dict[str, Any]:
    """``machine_report_action`` once ``report_owner_checked`` passed: the machine → workflow
    → action locks in the engine's order, then the transition. The caller holds the
    transaction (and records events in a batch); ``locked``: the workflow and the action, read
    under those locks by the caller (a group of reports locks its rows together), and
    ``progress``: the workflow around the action, read under them too."""
    workflow, action = locked or selectors.lock_for_report(
        machine_id=owner.workflow_machine_id,
        workflow_id=owner.workflow_id,
        action_id=report.action_id,
    )
    if report.attempt != action.attempt:
        raise StaleReport(
            f"report for attempt {report.attempt} of action {action.pk}; the current attempt "
            f"is {action.attempt}"
        )
    result = {"action": action.pk, "attempt": action.attempt}
    if action.state == report.state:
        return {**result, "state": action.state, "duplicate": True}
    actor = Actor.agent(action.task.worker)
    # started_at / finished_at are when the report arrived, by the server's clock: timeouts
    # and durations must not depend on a machine's clock, which may be days off in Hook.
    now = timezone.now()
    if report.state == ActionState.RUNNING:
        if action.state != ActionState.PENDING or workflow.state not in (
            WorkflowState.PENDING,
            WorkflowState.RUNNING,
        ):
            raise StaleReport(f"action {action.pk} is {action.state}; it cannot start now")
        blocked = (
            progress.unsucceeded_before
            if progress is not None
            else unsucceeded_action_exists(workflow.pk, before_order=action.order)
        )
        if blocked:
            raise StaleReport(f"action {action.pk} cannot start before the actions before it")
        # A retried action starts a new attempt: the previous attempt's end is not this one's.
        action.agent_started_at, action.agent_finished_at = report.at, None
        action_start(
            workflow=workflow,
            action=action,
            actor=actor,
            at=now,
            also_save=("agent_started_at", "agent_finished_at"),
        )
    else:
        if action.state != ActionState.RUNNING:
            raise StaleReport(
                f"action {action.pk} is {action.state}; a final state follows 'running'"
            )
        if report.state == ActionState.FAILED and report.exit_code is None and exit_code_required:
            raise ValidationError({"exit_code": "A failed action reports its exit code."})
        action.agent_finished_at = report.at
        action_finish(
            workflow=workflow,
            action=action,
            target=report.state,
            actor=actor,
            at=now,
            exit_code=report.exit_code,
            message=report.message[:10_000],
            reaction=report.reaction,
            also_save=("agent_finished_at",),
            told_machine_id=machine.pk if told_agent else None,
            progress=progress,
        )
    return {**result, "state": action.state, "duplicate": False}

"""A workflow out as a Tinkerbell ``Workflow`` document, its status in Tinkerbell's shape.

  metadata.name            the imported document's name; workflow-<id> for a workflow started
                           in Rackpilot (Rackpilot's workflows are numbered, not named)
  spec                     templateRef, hardwareRef, hardwareMap, bootOptions as imported
  status.state             STATE_PENDING / RUNNING / SUCCESS / FAILED / TIMEOUT (a cancelled
                           workflow is STATE_FAILED: Tinkerbell has no cancelled state)
  status.globalTimeout     seconds
  status.tasks[]           name, worker, volumes, environment, actions[]: name, image, timeout,
                           command, volumes, pid, environment, status (STATE_*), startedAt
                           (RFC 3339, UTC), seconds (whole seconds it ran), message
A skipped action never ran and stays STATE_PENDING, as in Tinkerbell.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from tinkerbell.formats.documents import API_VERSION
from workflows.models import Action, Workflow
from workflows.states import ActionState, WorkflowState

_WORKFLOW_STATES = {
    WorkflowState.PENDING: "STATE_PENDING",
    WorkflowState.RUNNING: "STATE_RUNNING",
    WorkflowState.SUCCESS: "STATE_SUCCESS",
    WorkflowState.FAILED: "STATE_FAILED",
    WorkflowState.TIMEOUT: "STATE_TIMEOUT",
    WorkflowState.CANCELLED: "STATE_FAILED",
}
_ACTION_STATES = {
    ActionState.PENDING: "STATE_PENDING",
    ActionState.RUNNING: "STATE_RUNNING",
    ActionState.SUCCESS: "STATE_SUCCESS",
    ActionState.FAILED: "STATE_FAILED",
    ActionState.TIMEOUT: "STATE_TIMEOUT",
    ActionState.SKIPPED: "STATE_PENDING",
}


def _time(value: datetime | None) -> str | None:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ") if value is not None else None


def _action(action: Action) -> dict[str, Any]:
    document: dict[str, Any] = {
        "name": action.name,
        "image": action.image,
        "timeout": action.timeout,
        "command": list(action.command),
        "volumes": list(action.volumes),
        "pid": action.pid,
        "environment": dict(action.environment),
        "status": _ACTION_STATES.get(ActionState(action.state), "STATE_PENDING"),
        "message": action.message,
    }
    if action.started_at is not None:
        document["startedAt"] = _time(action.started_at)
        if action.finished_at is not None:
            document["seconds"] = int((action.finished_at - action.started_at).total_seconds())
    return {k: v for k, v in document.items() if v not in ("", [], {}, None)}


def _boot_options(workflow: Workflow) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if workflow.disable_pxe_on_success:
        options["toggleAllowNetboot"] = True
    if workflow.boot_into_pxe:
        options["bootMode"] = "netboot"
    return options


def workflow_document(*, workflow: Workflow) -> dict[str, Any]:
    tasks = []
    for task in workflow.tasks.order_by("order").prefetch_related("actions"):
        actions = sorted(task.actions.all(), key=lambda a: a.order)
        tasks.append(
            {
                "name": task.name,
                "worker": task.worker,
                **({"volumes": list(task.volumes)} if task.volumes else {}),
                **({"environment": dict(task.environment)} if task.environment else {}),
                "actions": [_action(action) for action in actions],
            }
        )
    spec: dict[str, Any] = {
        "templateRef": workflow.template.name,
        "hardwareRef": workflow.machine.hostname,
    }
    if workflow.hardware_map:
        spec["hardwareMap"] = dict(workflow.hardware_map)
    if _boot_options(workflow):
        spec["bootOptions"] = _boot_options(workflow)
    return {
        "apiVersion": API_VERSION,
        "kind": "Workflow",
        "metadata": {"name": workflow.imported_name or f"workflow-{workflow.pk}"},
        "spec": spec,
        "status": {
            "state": _WORKFLOW_STATES[WorkflowState(workflow.state)],
            "globalTimeout": workflow.global_timeout,
            "tasks": tasks,
        },
    }

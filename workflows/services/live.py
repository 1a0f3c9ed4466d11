"""What the engine tells agents and browsers about a workflow, each after the commit: work is
waiting, a state changed, an action must stop (channel-layer groups of workflows/groups.py)."""

from __future__ import annotations

from typing import Any

from inventory.models import NetworkInterface
from rackpilot.core.events import publish_on_commit
from workflows.groups import action_shown, agent_group, workflow_group
from workflows.models import Action, Workflow
from workflows.selectors import worker_machine_ids


def announce_work(
    workflow: Workflow,
    *,
    told_machine_id: int | None = None,
    machine_ids: frozenset[int] | None = None,
) -> None:
    """Tell the agents of the workflow's machines, after the commit, that work is waiting
    (``told_machine_id``'s agent is given its next action in the answer to its report;
    ``machine_ids``: the workflow's worker machines, when the caller read them already)."""
    if machine_ids is None:
        machine_ids = frozenset(worker_machine_ids(workflow.pk))
    for machine_id in machine_ids.difference([told_machine_id]):
        publish_on_commit(
            agent_group(machine_id), {"type": "work.available", "workflow": workflow.pk}
        )


def publish_state(workflow: Workflow, action: Action | None = None) -> None:
    """Tell the workflow's viewers, after the commit, its state (and the action's)."""
    message: dict[str, Any] = {
        "type": "workflow.state",
        "workflow": workflow.pk,
        "state": workflow.state,
    }
    if action is not None:
        message["action"] = action_shown(action)
    publish_on_commit(workflow_group(workflow.pk), message)


def tell_agent_to_stop(action: Action) -> None:
    """Tell the agent running the action, after the commit, to stop it."""
    machine_id = (
        NetworkInterface.objects.filter(mac=action.task.worker)
        .values_list("machine_id", flat=True)
        .first()
    )
    if machine_id is not None:
        publish_on_commit(
            agent_group(machine_id),
            {"type": "action.cancel", "action": action.pk, "attempt": action.attempt},
        )

"""Channel-layer group names, in one place (consumers subscribe, services publish), and what a
workflow's viewers are shown of an action and of its log lines, live or read back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from workflows.models import Action


def agent_group(machine_id: int) -> str:
    """Every agent connection of a machine: told when work is available or must stop."""
    return f"agent-machine-{machine_id}"


def workflow_group(workflow_id: int) -> str:
    """Browsers watching one workflow: state changes and log lines."""
    return f"workflow-{workflow_id}"


def lines_frame(
    action_id: int, attempt: int, lines: Iterable[tuple[int, str, str, str]]
) -> dict[str, Any]:
    """The viewers' ``lines`` frame: (seq, stream, timestamp as shown, text) per line, in seq
    order. Built from a stored batch (live) and from stored rows (backlog, fetch) alike."""
    shown = [{"seq": q, "stream": s, "ts": stamp, "text": x} for q, s, stamp, x in lines]
    return {
        "type": "lines",
        "action": action_id,
        "attempt": attempt,
        "first_seq": shown[0]["seq"],
        "lines": shown,
    }


def action_shown(action: Action) -> dict[str, Any]:
    """An action as its workflow's viewers see it: in a state change (live) and in the
    snapshot a viewer's socket starts with."""
    return {
        "id": action.pk,
        "state": action.state,
        "attempt": action.attempt,
        "started_at": action.started_at.isoformat() if action.started_at else None,
        "finished_at": action.finished_at.isoformat() if action.finished_at else None,
        "exit_code": action.exit_code,
        "message": action.message,
        # The highest stored log seq: a viewer whose last live frame was lost sees it here.
        "log_seq": action.log_seq,
    }

"""Channel-layer group names, in one place (consumers subscribe, services publish), and the
frame of log lines a workflow's viewers get, live or read back."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any


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

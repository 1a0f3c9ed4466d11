"""``/ws/workflows/<id>/``: the live log of a workflow for the browser (snapshot, backlog,
then every new batch of lines and every state change)."""

from __future__ import annotations

from typing import Any

from rackpilot.core.log_viewer import (
    BACKLOG_FRAME_LINES,
    BACKLOG_MAX_LINES,
    BadFrame,
    LogViewerConsumer,
    batched_frames,
)
from workflows.groups import action_shown, lines_frame, workflow_group

VIEW_PERMISSION = "workflows.view_workflow"


def _line_frame(action_id: int, attempt: int, lines: list[Any]) -> dict[str, Any]:
    """Stored rows as the frame live lines come in (``workflows.groups.lines_frame``)."""
    return lines_frame(
        action_id,
        attempt,
        ((ln.seq, ln.stream, ln.timestamp.isoformat(), ln.text) for ln in lines),
    )


def _snapshot(workflow_id: int) -> dict[str, Any] | None:
    from workflows.models import Action, Workflow

    workflow = Workflow.objects.filter(pk=workflow_id).first()
    if workflow is None:
        return None
    actions = Action.objects.filter(task__workflow=workflow).order_by("order")
    return {
        "type": "snapshot",
        "workflow": {
            "id": workflow.pk,
            "state": workflow.state,
            "failure_reason": workflow.failure_reason,
            "started_at": workflow.started_at.isoformat() if workflow.started_at else None,
            "finished_at": workflow.finished_at.isoformat() if workflow.finished_at else None,
        },
        "actions": [{"name": a.name, **action_shown(a)} for a in actions],
    }


def _backlog_frames(workflow_id: int, cursors: dict[int, tuple[int, int]]) -> list[dict[str, Any]]:
    from workflows.selectors import log_backlog

    return batched_frames(
        log_backlog(workflow_id, cursors, limit=BACKLOG_MAX_LINES),
        key=lambda line: (line.action_id, line.attempt),
        frame=lambda run: _line_frame(run[0].action_id, run[0].attempt, run),
    )


def _fetch(workflow_id: int, action_id: int, attempt: int, after: int, until: int) -> list[Any]:
    from workflows.models import LogLine

    return list(
        LogLine.objects.filter(
            action_id=action_id,
            action__task__workflow_id=workflow_id,
            attempt=attempt,
            seq__gt=after,
            seq__lte=until,
        ).order_by("seq")[:BACKLOG_FRAME_LINES]
    )


def _parse_cursors(raw: Any) -> dict[int, tuple[int, int]]:
    cursors: dict[int, tuple[int, int]] = {}
    if not isinstance(raw, dict):
        return cursors
    for key, value in raw.items():
        if not (str(key).isdigit() and isinstance(value, dict)):
            continue
        attempt, seq = value.get("attempt"), value.get("seq")
        if isinstance(attempt, int) and isinstance(seq, int):
            cursors[int(key)] = (attempt, seq)
    return cursors


class WorkflowLogConsumer(LogViewerConsumer):
    """``/ws/workflows/<id>/``: a workflow's position is a cursor per action,
    ``{"type": "subscribe", "cursors": {"<action id>": {"attempt": A, "seq": S}}}``; a gap is
    asked for with ``{"type": "fetch", "action", "attempt", "after_seq", "until_seq"}``. Live
    frames: ``lines`` and ``state``."""

    view_permission = VIEW_PERMISSION
    url_kwarg = "workflow_id"

    def group_name(self, object_id: int) -> str:
        return workflow_group(object_id)

    def snapshot(self, object_id: int) -> dict[str, Any] | None:
        return _snapshot(object_id)

    def is_finished(self, snapshot: dict[str, Any]) -> bool:
        from workflows.states import WORKFLOW_FINISHED

        return snapshot["workflow"]["state"] in WORKFLOW_FINISHED

    def parse_subscribe(self, content: dict[str, Any]) -> dict[int, tuple[int, int]]:
        return _parse_cursors(content.get("cursors"))

    def backlog(self, object_id: int, position: dict[int, tuple[int, int]]) -> list[dict[str, Any]]:
        return _backlog_frames(object_id, position)

    def fetch(self, object_id: int, content: dict[str, Any]) -> list[dict[str, Any]]:
        raw = [content.get(k) for k in ("action", "attempt", "after_seq", "until_seq")]
        values = [v for v in raw if isinstance(v, int) and not isinstance(v, bool)]
        if len(values) != len(raw):
            raise BadFrame("fetch needs integers")
        action_id, attempt, after_seq, until_seq = values
        lines = _fetch(object_id, action_id, attempt, after_seq, until_seq)
        return [_line_frame(action_id, attempt, lines)] if lines else []

    async def log_lines(self, message: dict[str, Any]) -> None:
        await self.send(text_data=message["frame"])  # written once for every viewer

    async def workflow_state(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "state"})

"""``/ws/workflows/<id>/``: the live log of a workflow for the browser (snapshot, backlog,
then every new batch of lines and every state change)."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from rackpilot.core.consumers import CLOSE_POLICY_VIOLATION, BrowserJsonConsumer
from workflows.groups import workflow_group

BACKLOG_FRAME_LINES = 1000
BACKLOG_MAX_LINES = 50_000
CLOSE_NOT_FOUND = 4404
VIEW_PERMISSION = "workflows.view_workflow"
SUBSCRIBE_ONCE = "subscribe once per socket: reconnect to subscribe again"


def _line_frame(action_id: int, attempt: int, lines: list[Any]) -> dict[str, Any]:
    return {
        "type": "lines",
        "action": action_id,
        "attempt": attempt,
        "first_seq": lines[0].seq,
        "lines": [
            {"seq": ln.seq, "stream": ln.stream, "ts": ln.timestamp.isoformat(), "text": ln.text}
            for ln in lines
        ],
    }


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
        "actions": [
            {
                "id": a.pk,
                "name": a.name,
                "state": a.state,
                "attempt": a.attempt,
                "started_at": a.started_at.isoformat() if a.started_at else None,
                "finished_at": a.finished_at.isoformat() if a.finished_at else None,
                "exit_code": a.exit_code,
                "message": a.message,
                "log_seq": a.log_seq,
            }
            for a in actions
        ],
    }


def _backlog_frames(workflow_id: int, cursors: dict[int, tuple[int, int]]) -> list[dict[str, Any]]:
    from workflows.selectors import log_backlog

    lines = log_backlog(workflow_id, cursors, limit=BACKLOG_MAX_LINES)
    frames: list[dict[str, Any]] = []
    run: list[Any] = []
    for line in lines:
        if run and (
            line.action_id != run[0].action_id
            or line.attempt != run[0].attempt
            or len(run) >= BACKLOG_FRAME_LINES
        ):
            frames.append(_line_frame(run[0].action_id, run[0].attempt, run))
            run = []
        run.append(line)
    if run:
        frames.append(_line_frame(run[0].action_id, run[0].attempt, run))
    return frames


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


class WorkflowLogConsumer(BrowserJsonConsumer):
    """``/ws/workflows/<id>/`` for browsers: a snapshot, the backlog from the database, then
    live lines and state changes. Every line carries its seq: a client that reconnects sends
    its cursors and gets only what it lacks; a client that sees a gap asks with ``fetch``."""

    workflow_id: int = 0
    subscribed = False

    async def connect(self) -> None:
        # Refused before joining anything: a user without the permission gets no frame at all.
        if not await self.permitted(VIEW_PERMISSION):
            return
        self.workflow_id = int(self.scope["url_route"]["kwargs"]["workflow_id"])
        # Join before reading the backlog: a line committed in between arrives twice at worst,
        # and the client drops what it has by seq.
        await self.channel_layer.group_add(workflow_group(self.workflow_id), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.workflow_id:
            await self.channel_layer.group_discard(
                workflow_group(self.workflow_id), self.channel_name
            )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "subscribe":
            if self.subscribed:
                # The backlog is up to 50,000 lines: one socket must not ask for it again and
                # again. The page reconnects and subscribes with its cursors instead.
                self.closing = True
                await self.close(code=CLOSE_POLICY_VIOLATION, reason=SUBSCRIBE_ONCE)
                return
            self.subscribed = True
            snapshot = await database_sync_to_async(_snapshot)(self.workflow_id)
            if snapshot is None:
                self.closing = True
                await self.close(code=CLOSE_NOT_FOUND)
                return
            await self.send_json(snapshot)
            frames = await database_sync_to_async(_backlog_frames)(
                self.workflow_id, _parse_cursors(content.get("cursors"))
            )
            for frame in frames:
                await self.send_json(frame)
            await self.send_json({"type": "backlog_done"})
        elif content.get("type") == "fetch":
            raw = [content.get(k) for k in ("action", "attempt", "after_seq", "until_seq")]
            values = [v for v in raw if isinstance(v, int) and not isinstance(v, bool)]
            if len(values) != len(raw):
                await self.send_json({"type": "error", "detail": "fetch needs integers"})
                return
            action_id, attempt, after_seq, until_seq = values
            lines = await database_sync_to_async(_fetch)(
                self.workflow_id, action_id, attempt, after_seq, until_seq
            )
            if lines:
                await self.send_json(_line_frame(action_id, attempt, lines))

    async def log_lines(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "lines"})

    async def workflow_state(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "state"})

"""``/ws/builds/<id>/`` for browsers: a snapshot, the log backlog, then live frames.

Client → ``{"type": "subscribe", "after_seq": N}`` (N = the last line it has, 0 at first):
the server answers ``snapshot``, ``lines`` frames of the backlog after N, ``backlog_done``,
then live ``state`` / ``progress`` / ``lines`` frames. Lines carry seq numbers; a client that
sees a gap asks ``{"type": "fetch", "after_seq": A, "until_seq": B}``.

A socket subscribes once: a second ``subscribe`` closes it with 1008 (the client reconnects
and subscribes after its last seq). Users without ``builds.view_build`` are closed with 4403.
"""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async

from builds.groups import build_group
from rackpilot.core.consumers import BrowserJsonConsumer

BACKLOG_FRAME_LINES = 1000
BACKLOG_MAX_LINES = 50_000
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_POLICY_VIOLATION = 1008
VIEW_PERMISSION = "builds.view_build"
SUBSCRIBE_ONCE = "subscribe once per socket: reconnect to subscribe again"


def _snapshot(build_id: int) -> dict[str, Any] | None:
    from builds.models import Build
    from builds.services.lifecycle import state_message

    build = Build.objects.filter(pk=build_id).first()
    if build is None:
        return None
    return {**state_message(build), "type": "snapshot"}


def _lines_frame(build_id: int, lines: list[Any]) -> dict[str, Any]:
    return {
        "type": "lines",
        "build": build_id,
        "first_seq": lines[0].seq,
        "lines": [{"seq": ln.seq, "ts": ln.timestamp.isoformat(), "text": ln.text} for ln in lines],
    }


def _backlog(build_id: int, after_seq: int, until_seq: int | None = None) -> list[dict[str, Any]]:
    from builds.models import BuildLogLine

    lines = BuildLogLine.objects.filter(build_id=build_id, seq__gt=after_seq).order_by("seq")
    if until_seq is not None:
        lines = lines.filter(seq__lte=until_seq)
    frames: list[dict[str, Any]] = []
    run: list[Any] = []
    for line in lines[:BACKLOG_MAX_LINES].iterator(chunk_size=BACKLOG_FRAME_LINES):
        run.append(line)
        if len(run) >= BACKLOG_FRAME_LINES:
            frames.append(_lines_frame(build_id, run))
            run = []
    if run:
        frames.append(_lines_frame(build_id, run))
    return frames


def _int(value: Any, default: int = 0) -> int | None:
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


class BuildLogConsumer(BrowserJsonConsumer):
    build_id: int = 0
    subscribed = False

    async def connect(self) -> None:
        # Refused before joining anything: a user without the permission gets no frame at all.
        if not await self.permitted(VIEW_PERMISSION):
            return
        self.build_id = int(self.scope["url_route"]["kwargs"]["build_id"])
        # Join before reading the backlog: a line committed in between arrives twice at worst,
        # and the client drops what it has by seq.
        await self.channel_layer.group_add(build_group(self.build_id), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.build_id:
            await self.channel_layer.group_discard(build_group(self.build_id), self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        kind = content.get("type")
        if kind == "subscribe":
            if self.subscribed:
                # Each subscribe reads up to 50,000 lines: one socket must not repeat it.
                self.closing = True
                await self.close(code=CLOSE_POLICY_VIOLATION, reason=SUBSCRIBE_ONCE)
                return
            after = _int(content.get("after_seq"))
            if after is None:
                await self.send_json({"type": "error", "detail": "after_seq: a whole number"})
                return
            self.subscribed = True
            snapshot = await database_sync_to_async(_snapshot)(self.build_id)
            if snapshot is None:
                self.closing = True
                await self.close(code=CLOSE_NOT_FOUND)
                return
            await self.send_json(snapshot)
            for frame in await database_sync_to_async(_backlog)(self.build_id, after):
                await self.send_json(frame)
            await self.send_json({"type": "backlog_done"})
        elif kind == "fetch":
            after, until = _int(content.get("after_seq"), -1), _int(content.get("until_seq"), -1)
            if after is None or until is None or after < 0 or until < 0:
                await self.send_json(
                    {"type": "error", "detail": "fetch needs after_seq, until_seq"}
                )
                return
            for frame in await database_sync_to_async(_backlog)(self.build_id, after, until):
                await self.send_json(frame)

    async def build_state(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "state"})

    async def build_progress(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "progress"})

    async def build_lines(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "lines"})

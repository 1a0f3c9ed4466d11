"""``/ws/builds/<id>/`` for browsers: a snapshot, the log backlog, then live frames.

The protocol is the live log's (``rackpilot.core.log_viewer``). A build's position is one
number: ``{"type": "subscribe", "after_seq": N}`` (N = the last line the client has, 0 at
first); a gap is asked for with ``{"type": "fetch", "after_seq": A, "until_seq": B}``. Live
frames: ``state``, ``progress`` and ``lines``. Users without ``builds.view_build`` are closed
with 4403.
"""

from __future__ import annotations

from typing import Any

from builds.groups import build_group
from rackpilot.core.log_viewer import (
    BACKLOG_FRAME_LINES,
    BACKLOG_MAX_LINES,
    BadFrame,
    LogViewerConsumer,
    batched_frames,
    whole_number,
)

VIEW_PERMISSION = "builds.view_build"


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
    return batched_frames(
        lines[:BACKLOG_MAX_LINES].iterator(chunk_size=BACKLOG_FRAME_LINES),
        key=lambda line: None,
        frame=lambda run: _lines_frame(build_id, run),
    )


class BuildLogConsumer(LogViewerConsumer):
    view_permission = VIEW_PERMISSION
    url_kwarg = "build_id"

    def group_name(self, object_id: int) -> str:
        return build_group(object_id)

    def snapshot(self, object_id: int) -> dict[str, Any] | None:
        from builds.models import Build
        from builds.services.lifecycle import state_message

        build = Build.objects.filter(pk=object_id).first()
        return None if build is None else state_message(build)

    def is_finished(self, snapshot: dict[str, Any]) -> bool:
        from builds.states import BUILD_FINISHED

        return snapshot["state"] in BUILD_FINISHED

    def parse_subscribe(self, content: dict[str, Any]) -> int:
        after = whole_number(content.get("after_seq"), default=0)
        if after is None:
            raise BadFrame("after_seq: a whole number")
        return after

    def backlog(self, object_id: int, position: int) -> list[dict[str, Any]]:
        return _backlog(object_id, position)

    def fetch(self, object_id: int, content: dict[str, Any]) -> list[dict[str, Any]]:
        after = whole_number(content.get("after_seq"))
        until = whole_number(content.get("until_seq"))
        if after is None or until is None:
            raise BadFrame("fetch needs after_seq, until_seq")
        return _backlog(object_id, after, until)

    async def build_state(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "state"})

    async def build_progress(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "progress"})

    async def build_lines(self, message: dict[str, Any]) -> None:
        await self.send_json({**message, "type": "lines"})

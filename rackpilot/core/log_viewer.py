"""The browser side of a live log (a workflow's actions, a build): one protocol, one consumer.

A viewer socket is refused before it joins anything unless the user may view the object; it
joins the object's group, then waits for one ``subscribe``: the answer is a ``snapshot``, the
backlog from the database in ``lines`` frames, and ``backlog_done``; live frames follow. Every
line carries its seq, so a client that reconnects asks only for what it lacks, and a client
that sees a gap asks for the range with ``fetch``. A socket subscribes once: the backlog can be
50,000 lines, and a second ``subscribe`` closes the socket with 4008 (the client reconnects).

Live frames travel through the channel layer (Redis PUBLISH / SUBSCRIBE), which loses what is
published while a process's subscriber connection is down (a Redis blip or failover, a
reconnect): a lost frame in the middle shows up as a gap in the next one, but a lost last frame
(or a lost state change) shows up nowhere. So while
the object may still change, the socket sends a ``tip`` every LOG_VIEWER_TIP_SECONDS: the
snapshot again (states, attempts and how many lines the server has), only when it differs from
the last one sent. A viewer that sees more lines than it has asks for them with ``fetch``; it is
never left waiting for more than an interval. Tips stop one interval after the object finished
(the last lines of a finished workflow may still arrive during that interval).

Subclasses say what the object is: its group, its snapshot, when it is finished, how a subscribe
and a fetch read the backlog. Those run in a worker thread (they touch the database).
"""

from __future__ import annotations

import asyncio
import contextlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Iterable
from typing import Any, TypeVar

from channels.db import database_sync_to_async
from django.conf import settings

from rackpilot.core.consumers import CLOSE_POLICY_VIOLATION, BrowserJsonConsumer

BACKLOG_FRAME_LINES = 1000
BACKLOG_MAX_LINES = 50_000
CLOSE_NOT_FOUND = 4404
SUBSCRIBE_ONCE = "subscribe once per socket: reconnect to subscribe again"

Line = TypeVar("Line")


class BadFrame(Exception):
    """A client frame the consumer cannot serve; the message goes back as an ``error`` frame."""


def whole_number(value: Any, *, default: int | None = None) -> int | None:
    """``value`` if it is a whole number ≥ 0 (not a bool), ``default`` when absent, else None."""
    if value is None:
        return default
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None


def batched_frames(
    lines: Iterable[Line],
    *,
    key: Callable[[Line], Hashable],
    frame: Callable[[list[Line]], dict[str, Any]],
) -> list[dict[str, Any]]:
    """``lines`` in frames of at most BACKLOG_FRAME_LINES, a new frame wherever ``key`` changes
    (a workflow's frame belongs to one action attempt)."""
    frames: list[dict[str, Any]] = []
    run: list[Line] = []
    for line in lines:
        if run and (key(line) != key(run[0]) or len(run) >= BACKLOG_FRAME_LINES):
            frames.append(frame(run))
            run = []
        run.append(line)
    if run:
        frames.append(frame(run))
    return frames


class LogViewerConsumer(BrowserJsonConsumer, ABC):
    view_permission: str = ""
    url_kwarg: str = ""
    object_id: int = 0
    subscribed = False
    # The loop sending tips, once subscribed.
    _tips: asyncio.Future[None] | None = None

    # --- what a subclass says about its object (sync: called in a worker thread) -------------

    @abstractmethod
    def group_name(self, object_id: int) -> str: ...

    @abstractmethod
    def snapshot(self, object_id: int) -> dict[str, Any] | None:
        """The object's state now, sent as the ``snapshot`` frame; None when it does not exist."""
        ...

    @abstractmethod
    def is_finished(self, snapshot: dict[str, Any]) -> bool:
        """Whether the object of ``snapshot`` can no longer change."""
        ...

    @abstractmethod
    def parse_subscribe(self, content: dict[str, Any]) -> Any:
        """Where the client's log stands, from its ``subscribe``; BadFrame if malformed."""
        ...

    @abstractmethod
    def backlog(self, object_id: int, position: Any) -> list[dict[str, Any]]:
        """The ``lines`` frames after ``position`` (what ``parse_subscribe`` returned)."""
        ...

    @abstractmethod
    def fetch(self, object_id: int, content: dict[str, Any]) -> list[dict[str, Any]]:
        """The ``lines`` frames of the range a ``fetch`` asks for; BadFrame if malformed."""
        ...

    # --- the socket --------------------------------------------------------------------------

    async def connect(self) -> None:
        # Refused before joining anything: a user without the permission gets no frame at all.
        if not await self.permitted(self.view_permission):
            return
        self.object_id = int(self.scope["url_route"]["kwargs"][self.url_kwarg])
        # Join before reading the backlog: a line committed in between arrives twice at worst,
        # and the client drops what it has by seq.
        await self.channel_layer.group_add(self.group_name(self.object_id), self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self._tips is not None:
            self._tips.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._tips
        if self.object_id:
            await self.channel_layer.group_discard(
                self.group_name(self.object_id), self.channel_name
            )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            return
        try:
            if content.get("type") == "subscribe":
                await self._subscribe(content)
            elif content.get("type") == "fetch":
                frames = await database_sync_to_async(self.fetch)(self.object_id, content)
                for frame in frames:
                    await self.send_json(frame)
        except BadFrame as error:
            await self.send_json({"type": "error", "detail": str(error)})

    async def _subscribe(self, content: dict[str, Any]) -> None:
        if self.subscribed:
            self.closing = True
            await self.close(code=CLOSE_POLICY_VIOLATION, reason=SUBSCRIBE_ONCE)
            return
        position = self.parse_subscribe(content)
        self.subscribed = True
        snapshot = await database_sync_to_async(self.snapshot)(self.object_id)
        if snapshot is None:
            self.closing = True
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self.send_json({**snapshot, "type": "snapshot"})
        for frame in await database_sync_to_async(self.backlog)(self.object_id, position):
            await self.send_json(frame)
        await self.send_json({"type": "backlog_done"})
        if settings.LOG_VIEWER_TIP_SECONDS > 0:
            self._tips = asyncio.ensure_future(self._send_tips(snapshot))

    async def _send_tips(self, last: dict[str, Any]) -> None:
        """Until one interval after the object finished: the snapshot again when it changed."""
        while not self.closing:
            was_finished = self.is_finished(last)
            await asyncio.sleep(settings.LOG_VIEWER_TIP_SECONDS)
            current = await database_sync_to_async(self.snapshot)(self.object_id)
            if current is None:
                return
            if current != last:
                await self.send_json({**current, "type": "tip"})
                last = current
            elif was_finished:
                return

"""Log batches from every agent socket of a web process, stored together.

Each socket's ``logs`` message is handed to its process's ``LogIntake``; one writer stores what
has arrived in one call of ``store_log_batches`` (one worker thread, one transaction) and
answers each socket. While it writes, the next group gathers: under light load a group is one
batch and waits for nothing; under a thousand agents' small batches the cost of a transaction,
a thread hop and a statement per step is shared by the whole group instead of paid by each.

A group's live frames (its lines, for the viewers) are sent from the event loop while the next
group is being stored, and its agents are answered once those frames are out: an agent never
has lines acknowledged whose frames were not sent, and the writer does not wait for Redis
between two groups. Frames go out group after group, in order; at most one group's are on
their way while the next is stored.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from channels.db import DatabaseSyncToAsync

from rackpilot.core.events import publish_collected, publishes_collected
from workflows.agent_protocol.logs import LogBatch, Outcome, store_log_batches

# At most this many batches (and about this many lines) in one transaction: a group never
# holds its row locks, or keeps its agents waiting, for long.
MAX_GROUP_BATCHES = 200
MAX_GROUP_LINES = 20_000


@dataclass
class _Waiting:
    batch: LogBatch
    answer: asyncio.Future[Outcome] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class LogIntake:
    def __init__(self) -> None:
        self.waiting: deque[_Waiting] = deque()
        self.writer: asyncio.Task[None] | None = None
        # The last group's frames and answers, on their way.
        self.sending: asyncio.Task[None] | None = None

    async def submit(self, batch: LogBatch) -> Outcome:
        """Store ``batch`` with whatever else is waiting; its acknowledgement or refusal.
        Cancelled (the socket closed), the batch is still stored or refused with its group:
        the agent resends what it did not see acknowledged, and a resend is stored once."""
        waiting = _Waiting(batch)
        self.waiting.append(waiting)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        return await waiting.answer

    def _next_group(self) -> list[_Waiting]:
        group: list[_Waiting] = []
        lines = 0
        while self.waiting and len(group) < MAX_GROUP_BATCHES:
            if group and lines >= MAX_GROUP_LINES:
                break
            item = self.waiting.popleft()
            group.append(item)
            lines += len(item.batch.lines) if isinstance(item.batch.lines, list) else 0
        return group

    async def _write(self) -> None:
        store = DatabaseSyncToAsync(_store_collecting, thread_sensitive=False)
        while self.waiting:
            group = self._next_group()
            try:
                outcomes, published = await store([item.batch for item in group])
            except Exception as exc:  # the transaction failed: every batch is refused
                outcomes, published = [exc] * len(group), []
            previous = self.sending
            if previous is not None:
                await previous  # the previous group's frames go out first
            self.sending = asyncio.create_task(_send_and_answer(group, outcomes, published))
        # Ends without waiting for the last group's frames: a batch arriving meanwhile starts
        # the next writer, which stores it while they are on their way.


def _store_collecting(batches: list[LogBatch]) -> tuple[list[Outcome], list[tuple[str, Any]]]:
    """Store the batches; their outcomes and the live frames their commit published."""
    with publishes_collected() as published:
        outcomes = store_log_batches(batches)
    return outcomes, published


async def _send_and_answer(
    group: list[_Waiting], outcomes: list[Outcome], published: list[tuple[str, Any]]
) -> None:
    try:
        await publish_collected(published)
    finally:
        for item, outcome in zip(group, outcomes, strict=True):
            if not item.answer.done():
                item.answer.set_result(outcome)


_intakes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, LogIntake] = (
    weakref.WeakKeyDictionary()
)


def log_intake() -> LogIntake:
    """The intake of the running event loop (one per web process)."""
    loop = asyncio.get_running_loop()
    intake = _intakes.get(loop)
    if intake is None:
        intake = _intakes[loop] = LogIntake()
    return intake

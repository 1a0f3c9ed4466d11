"""Log batches and state reports from every agent socket of a web process, applied together.

Each socket's ``logs`` or ``action_state`` message is handed to its process's intake for that
kind; one writer applies what has arrived in one call (one worker thread, one transaction:
``store_log_batches``, ``apply_reports``) and answers each socket. While it writes, the next
group gathers: under light load a group is one message and waits for nothing; under a thousand
agents the cost of a transaction, a thread hop and the token re-check is shared by the whole
group instead of paid by each.

A group's live updates (lines for the viewers, new states, work for other agents) are sent
from the event loop while the next group is being applied, and its agents are answered once
they are out: an agent never has a message answered whose updates were not sent, and the
writer does not wait for Redis between two groups. Updates go out group after group, in
order; at most one group's are on their way while the next is applied.
"""

from __future__ import annotations

import asyncio
import weakref
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from channels.db import DatabaseSyncToAsync

from rackpilot.core.events import publish_collected, publishes_collected
from workflows.agent_protocol.logs import LogBatch, store_log_batches
from workflows.agent_protocol.reports import ReportItem, apply_reports

Item = TypeVar("Item")
Published = list[tuple[str, Any]]

# At most this many batches (and about this many lines) in one transaction: a group never
# holds its row locks, or keeps its agents waiting, for long.
MAX_GROUP_BATCHES = 200
MAX_GROUP_LINES = 20_000
MAX_GROUP_REPORTS = 100


@dataclass
class _Waiting(Generic[Item]):
    item: Item
    answer: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class Intake(Generic[Item]):
    """``submit(item)`` applies ``item`` through ``apply(items)`` (in a worker thread, with
    the others waiting) and returns its outcome: what ``apply`` gave for it, or the exception
    that failed the whole group. ``weight``: what an item counts against ``max_weight``."""

    def __init__(
        self,
        apply: Callable[[list[Item]], list[Any]],
        *,
        max_items: int,
        max_weight: int = 0,
        weight: Callable[[Item], int] = lambda item: 0,
    ) -> None:
        self.apply = apply
        self.max_items = max_items
        self.max_weight = max_weight
        self.weight = weight
        self.waiting: deque[_Waiting[Item]] = deque()
        self.writer: asyncio.Task[None] | None = None
        # The last group's updates and answers, on their way.
        self.sending: asyncio.Task[None] | None = None

    async def submit(self, item: Item) -> Any:
        """Apply ``item`` with whatever else is waiting; its outcome. Cancelled (the socket
        closed), the item is still applied or refused with its group: an agent resends what
        it did not see answered, and a resend is recognised (a log seq, a repeated state)."""
        waiting = _Waiting(item)
        self.waiting.append(waiting)
        if self.writer is None or self.writer.done():
            self.writer = asyncio.create_task(self._write())
        return await waiting.answer

    def _next_group(self) -> list[_Waiting[Item]]:
        group: list[_Waiting[Item]] = []
        weight = 0
        while self.waiting and len(group) < self.max_items:
            if group and self.max_weight and weight >= self.max_weight:
                break
            waiting = self.waiting.popleft()
            group.append(waiting)
            weight += self.weight(waiting.item)
        return group

    def _apply_collecting(self, items: list[Item]) -> tuple[list[Any], Published]:
        """The items' outcomes and the live updates their commits published."""
        with publishes_collected() as published:
            outcomes = self.apply(items)
        return outcomes, published

    async def _write(self) -> None:
        apply = DatabaseSyncToAsync(self._apply_collecting, thread_sensitive=False)
        while self.waiting:
            group = self._next_group()
            published: Published
            try:
                outcomes, published = await apply([waiting.item for waiting in group])
            except Exception as exc:  # the transaction failed: every item of it is refused
                outcomes, published = [exc] * len(group), []
            previous = self.sending
            if previous is not None:
                await previous  # the previous group's updates go out first
            self.sending = asyncio.create_task(_send_and_answer(group, outcomes, published))
        # Ends without waiting for the last group's updates: an item arriving meanwhile starts
        # the next writer, which applies it while they are on their way.


async def _send_and_answer(
    group: list[_Waiting[Any]], outcomes: list[Any], published: Published
) -> None:
    try:
        await publish_collected(published)
    finally:
        for waiting, outcome in zip(group, outcomes, strict=True):
            if not waiting.answer.done():
                waiting.answer.set_result(outcome)


def _lines_in(batch: LogBatch) -> int:
    return len(batch.lines) if isinstance(batch.lines, list) else 0


_log_intakes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Intake[LogBatch]] = (
    weakref.WeakKeyDictionary()
)
_report_intakes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Intake[ReportItem]] = (
    weakref.WeakKeyDictionary()
)


def log_intake() -> Intake[LogBatch]:
    """The log intake of the running event loop (one per web process)."""
    loop = asyncio.get_running_loop()
    intake = _log_intakes.get(loop)
    if intake is None:
        intake = _log_intakes[loop] = Intake(
            store_log_batches,
            max_items=MAX_GROUP_BATCHES,
            max_weight=MAX_GROUP_LINES,
            weight=_lines_in,
        )
    return intake


def report_intake() -> Intake[ReportItem]:
    """The state-report intake of the running event loop (one per web process)."""
    loop = asyncio.get_running_loop()
    intake = _report_intakes.get(loop)
    if intake is None:
        intake = _report_intakes[loop] = Intake(apply_reports, max_items=MAX_GROUP_REPORTS)
    return intake

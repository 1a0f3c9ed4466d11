"""``publish_many`` through the real Redis channel layer: every message arrives, each group's
in the order given, however the groups are interleaved; publishes collected in a worker thread
are sent by the caller afterwards, and what committed is sent even when the block raises."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from channels.layers import get_channel_layer
from django.db import transaction

from rackpilot.core.events import (
    publish_collected,
    publish_many,
    publish_on_commit,
    publishes_collected,
)


@pytest.mark.asyncio
async def test_each_groups_messages_arrive_in_order():
    layer = get_channel_layer()
    assert layer is not None
    groups = [f"publish-many-{n}" for n in range(5)]
    channels = {}
    for group in groups:
        channels[group] = await layer.new_channel()
        await layer.group_add(group, channels[group])
    try:
        messages = [(groups[n % 5], {"type": "probe", "n": n}) for n in range(60)]
        await asyncio.to_thread(publish_many, messages)
        for group in groups:
            received = [
                (await asyncio.wait_for(layer.receive(channels[group]), 5))["n"] for _ in range(12)
            ]
            assert received == [n for n in range(60) if groups[n % 5] == group]
    finally:
        for group in groups:
            await layer.group_discard(group, channels[group])


class Listener:
    """Reads a group's messages in the background (a receive cancelled by a timeout would
    end the channel: the pub/sub layer takes a cancelled receive for a consumer leaving)."""

    def __init__(self, group: str) -> None:
        self.group = group
        self.received: list[int] = []

    async def __aenter__(self) -> Listener:
        self.layer = get_channel_layer()
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)
        self.task = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            self.received.append((await self.layer.receive(self.channel))["n"])

    async def settled(self) -> list[int]:
        await asyncio.sleep(0.5)
        return self.received

    async def __aexit__(self, *exc: object) -> None:
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task
        await self.layer.group_discard(self.group, self.channel)


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_collected_publishes_are_sent_by_the_caller_not_at_commit():
    def in_a_worker_thread() -> list[tuple[str, dict[str, Any]]]:
        with publishes_collected() as published, transaction.atomic():
            publish_on_commit("collected", {"type": "probe", "n": 1})
            publish_on_commit("collected", {"type": "probe", "n": 2})
        return published

    async with Listener("collected") as listener:
        published = await asyncio.to_thread(in_a_worker_thread)
        # Committed, collected, and not sent yet.
        assert [message["n"] for _, message in published] == [1, 2]
        assert await listener.settled() == []
        await publish_collected(published)
        assert await listener.settled() == [1, 2]


@pytest.mark.asyncio
@pytest.mark.django_db(transaction=True)
async def test_a_block_that_raises_after_a_commit_still_sends_what_it_committed():
    def in_a_worker_thread() -> None:
        with publishes_collected():
            with transaction.atomic():
                publish_on_commit("collected-raise", {"type": "probe", "n": 1})
            with transaction.atomic():  # rolled back: never announced
                publish_on_commit("collected-raise", {"type": "probe", "n": 2})
                raise RuntimeError("after the first commit")

    async with Listener("collected-raise") as listener:
        with pytest.raises(RuntimeError):
            await asyncio.to_thread(in_a_worker_thread)
        assert await listener.settled() == [1]

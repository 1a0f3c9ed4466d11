"""``publish_many`` through the real Redis channel layer: every message arrives, each group's
in the order given, however the groups are interleaved; publishes collected in a worker thread
are sent by the caller afterwards, and what committed is sent even when the block raises."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from unittest import mock

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


@pytest.mark.asyncio
async def test_collected_publishes_go_out_in_one_pipeline():
    """The configured layer sends a group's publishes as one Redis pipeline (one write, one
    read), not a PUBLISH and its answer each; every listener still gets its own, in order."""
    from channels_redis.pubsub import RedisSingleShardConnection
    from redis.asyncio.client import Pipeline

    from rackpilot.core.channel_layer import PubSubChannelLayer

    assert isinstance(get_channel_layer(), PubSubChannelLayer)
    messages = [(f"pipelined-{n % 3}", {"type": "probe", "n": n}) for n in range(30)]
    async with (
        Listener("pipelined-0") as zero,
        Listener("pipelined-1") as one,
        Listener("pipelined-2") as two,
    ):
        with (
            mock.patch.object(
                Pipeline, "execute", autospec=True, side_effect=Pipeline.execute
            ) as executed,
            mock.patch.object(
                RedisSingleShardConnection,
                "publish",
                autospec=True,
                side_effect=RedisSingleShardConnection.publish,
            ) as published_alone,
        ):
            await publish_collected(messages)
        assert executed.call_count == 1 and published_alone.call_count == 0
        assert await zero.settled() == list(range(0, 30, 3))
        assert one.received == list(range(1, 30, 3))
        assert two.received == list(range(2, 30, 3))

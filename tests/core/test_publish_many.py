"""``publish_many`` through the real Redis channel layer: every message arrives, each group's
in the order given, however the groups are interleaved."""

from __future__ import annotations

import asyncio

import pytest
from channels.layers import get_channel_layer

from rackpilot.core.events import publish_many


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

"""``publish_many`` through the real Redis channel layer: every message arrives, each group's
in the order given, however the groups are interleaved."""

from __future__ import annotations

import asyncio
import logging
import time

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


@pytest.mark.asyncio
async def test_sends_nobody_waits_for_still_arrive_in_order():
    """``wait=False`` returns before the send; one caller's successive sends to a group (a log
    writer's groups of batches) must still reach the group's members in the order given."""
    layer = get_channel_layer()
    assert layer is not None
    group, channel = "publish-unwaited", await layer.new_channel()
    await layer.group_add(group, channel)
    try:

        def hand_over() -> None:
            for n in range(40):
                publish_many([(group, {"type": "probe", "n": n})], wait=False)

        await asyncio.to_thread(hand_over)
        received = [(await asyncio.wait_for(layer.receive(channel), 5))["n"] for _ in range(40)]
        assert received == list(range(40))
    finally:
        await layer.group_discard(group, channel)


def test_a_failed_send_nobody_waits_for_is_logged_not_raised(caplog, monkeypatch):
    from rackpilot.core import events

    class BrokenLayer:
        async def group_send(self, group, message):
            raise ConnectionError("channel layer down")

    monkeypatch.setattr(events, "get_channel_layer", lambda: BrokenLayer())
    monkeypatch.setattr(events, "_last_publish_warning", 0.0)
    with caplog.at_level(logging.WARNING, logger="rackpilot.core.events"):
        publish_many([("publish-broken", {"type": "probe"})], wait=False)  # returns at once
        deadline = time.monotonic() + 5
        while not caplog.records and time.monotonic() < deadline:
            time.sleep(0.01)
    assert "could not publish live updates (to publish-broken): channel layer down" in caplog.text
    assert events._publisher.unwaited == 0

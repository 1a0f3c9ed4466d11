"""The channel layer: channels_redis' pub/sub layer, plus ``group_send_many``.

A group of agent reports or log batches publishes a message per report (the workflow's new
state for its viewers, work for another agent): sent one by one, each is a write to Redis and
a wait for its answer, under the shard's lock; profiled under a thousand agents, an eighth of
the web processes' Python time went to those writes. ``group_send_many`` sends a list of them
as one pipeline per Redis shard (one write, one read), in the order given.
"""

from __future__ import annotations

from typing import Any

from channels_redis.pubsub import RedisPubSubChannelLayer


class PubSubChannelLayer(RedisPubSubChannelLayer):  # type: ignore[misc]
    async def group_send_many(self, messages: list[tuple[str, dict[str, Any]]]) -> None:
        """``group_send(group, message)`` for each pair, in order, one Redis round trip per
        shard. Relies on the layer's shard connections (channels_redis 4.x, pinned)."""
        layer = self._get_layer()
        by_shard: dict[Any, list[tuple[str, bytes]]] = {}
        for group, message in messages:
            channel = layer._get_group_channel_name(group)
            by_shard.setdefault(layer._get_shard(channel), []).append(
                (channel, self.serialize(message))
            )
        for shard, publishes in by_shard.items():
            async with shard._lock:
                shard._ensure_redis()
                pipeline = shard._redis.pipeline(transaction=False)
                for channel, data in publishes:
                    pipeline.publish(channel, data)
                await pipeline.execute()

from typing import Any

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from rackpilot.core.events import EVENTS_GROUP


class EventStreamConsumer(AsyncJsonWebsocketConsumer):
    """``/ws/events/``: every audit event as it is committed, for signed-in users."""

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=4401)
            return
        await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)

    async def event_created(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "event", "event": message["event"]})

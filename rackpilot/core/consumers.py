from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from rackpilot.core import wire_json
from rackpilot.core.events import EVENTS_GROUP

CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
# Over a frame rate for too long, a second browser subscribe. RFC 6455 has 1008 for this, but
# daphne (autobahn) refuses to send a close code outside 1000 and 3000-4999, so the
# application range carries it.
CLOSE_POLICY_VIOLATION = 4008
VIEW_PERMISSION = "core.view_event"


class DirectDispatch(AsyncJsonWebsocketConsumer):
    """A consumer whose handlers run without channels' per-message connection sweep, and whose
    frames are read and written by ``rackpilot.core.wire_json``.

    channels closes stale database connections before every handler (``aclose_old_connections``):
    a hop to the one thread-sensitive thread per frame, behind which a thousand agents' frames
    and every viewer's every log batch queue. Every database call of these consumers goes through
    ``database_sync_to_async``, which closes stale connections in the thread that uses them.
    """

    @classmethod
    async def decode_json(cls, text_data: str) -> Any:
        return wire_json.loads(text_data)

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        return wire_json.dumps(content)

    async def dispatch(self, message: dict[str, Any]) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)


class BrowserJsonConsumer(DirectDispatch):
    """A browser socket: JSON text frames only (anything else is ignored, never a crash), and
    ``permitted`` to refuse a user before anything is joined or sent."""

    closing = False

    async def permitted(self, permission: str) -> bool:
        """True for an active, signed-in user with ``permission``; otherwise the socket is
        closed with 4403 (no session, or no permission) and False."""
        user = self.scope.get("user")
        if user is None or not user.is_authenticated or not user.is_active:
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        if not await database_sync_to_async(user.has_perm)(permission):
            await self.close(code=CLOSE_FORBIDDEN)
            return False
        return True

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.closing or not text_data:
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError:
            return
        await self.receive_json(content, **kwargs)


class EventStreamConsumer(DirectDispatch):
    """``/ws/events/``: every audit event as it is committed, for users who may view events.

    Subscribed at connect (there is no ``subscribe`` message, so there is nothing to repeat);
    frames from the client are ignored.
    """

    joined = False

    async def connect(self) -> None:
        user = self.scope.get("user")
        if user is None or not user.is_authenticated:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Refused before joining the group: a user without the permission gets no event at all.
        if not await database_sync_to_async(user.has_perm)(VIEW_PERMISSION):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        await self.channel_layer.group_add(EVENTS_GROUP, self.channel_name)
        self.joined = True
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.joined:
            await self.channel_layer.group_discard(EVENTS_GROUP, self.channel_name)

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        # The stream takes no messages; a stray frame (JSON or not) must not end it.
        return

    async def event_created(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "event", "event": message["event"]})

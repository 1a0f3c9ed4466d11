"""``/ws/agent/``: agents connect here, get pushed work, and report over the same socket."""

from __future__ import annotations

from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from workflows.agent_protocol import ProtocolError, dispatch
from workflows.groups import agent_group
from workflows.models import AgentToken
from workflows.services.agent import AgentAuthenticationError, agent_token_authenticate

CLOSE_UNAUTHENTICATED = 4401


def _bearer(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            text = value.decode("latin-1").strip()
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return ""


class AgentConsumer(AsyncJsonWebsocketConsumer):
    token: AgentToken | None = None
    said_hello = False

    async def connect(self) -> None:
        try:
            self.token = await database_sync_to_async(agent_token_authenticate)(_bearer(self.scope))
        except AgentAuthenticationError:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        await self.accept()
        if self.token.machine_id is not None:
            await self.channel_layer.group_add(
                agent_group(self.token.machine_id), self.channel_name
            )

    async def disconnect(self, code: int) -> None:
        if self.token is not None and self.token.machine_id is not None:
            await self.channel_layer.group_discard(
                agent_group(self.token.machine_id), self.channel_name
            )

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json(ProtocolError(400, "invalid", "expected an object").as_frame())
            return
        reply_to = content.get("id")
        message_type = str(content.get("type", ""))
        if not self.said_hello and message_type != "hello":
            await self.send_json(
                ProtocolError(400, "hello_first", "send 'hello' first").as_frame(reply_to)
            )
            return
        assert self.token is not None
        try:
            # Re-check the token on every message: a revoked or expired token stops working
            # on open connections too.
            await database_sync_to_async(agent_token_authenticate)(_bearer(self.scope))
            reply = await database_sync_to_async(dispatch)(self.token, message_type, content)
        except AgentAuthenticationError:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        except ProtocolError as exc:
            await self.send_json(exc.as_frame(reply_to))
            return
        if message_type == "hello":
            self.said_hello = True
        if reply_to is not None:
            reply["reply_to"] = reply_to
        await self.send_json(reply)

    async def work_available(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "work_available", "workflow": message["workflow"]})

    async def action_cancel(self, message: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "cancel", "action": message["action"], "attempt": message["attempt"]}
        )

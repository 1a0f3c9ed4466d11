"""``/ws/agent/``: agents connect here, get pushed work, and report over the same socket."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from channels.db import DatabaseSyncToAsync, database_sync_to_async
from django.conf import settings

from rackpilot.core.consumers import (
    CLOSE_POLICY_VIOLATION,
    CLOSE_UNAUTHENTICATED,
    DirectDispatch,
)
from rackpilot.core.events import publish_collected, publishes_collected
from workflows.agent_protocol.dispatch import (
    HANDLERS,
    REFUSALS,
    ProtocolError,
    as_protocol_error,
    dispatch,
    log_batch,
    logs_ack,
)
from workflows.agent_protocol.intake import log_intake, report_intake
from workflows.agent_protocol.reports import Outcome, ReportItem
from workflows.agent_protocol.tokens import (
    AgentAuthenticationError,
    agent_token_authenticate,
    agent_token_recheck,
)
from workflows.groups import agent_group
from workflows.metrics import AGENTS_CONNECTED
from workflows.models import AgentToken

# RFC 6455 close codes for frames the protocol cannot take.
CLOSE_UNSUPPORTED_DATA = 1003  # a binary frame
CLOSE_INVALID_PAYLOAD = 1007  # text that is not JSON
CLOSE_TOO_BIG = 1009
# A close frame's reason is at most 123 bytes.
CLOSE_REASON_BYTES = 123


def _authenticated_dispatch(
    raw_token: str, token: AgentToken, message_type: str, content: dict[str, Any]
) -> dict[str, Any]:
    """Re-check the token on every message (a revoked or expired token stops working on open
    connections too), then run the message: one trip to a worker thread for both."""
    agent_token_recheck(raw_token)
    return dispatch(token, message_type, content)


def _dispatch_collecting(
    raw_token: str, token: AgentToken, message_type: str, content: dict[str, Any]
) -> tuple[Outcome, list[tuple[str, dict[str, Any]]]]:
    """The message's reply (or refusal) and the live updates its commits published, which the
    consumer sends from its own event loop (a refusal can come after a commit: a report was
    applied, then its next action could not be read)."""
    with publishes_collected() as published:
        try:
            outcome: Outcome = _authenticated_dispatch(raw_token, token, message_type, content)
        except (ProtocolError, AgentAuthenticationError) as exc:
            outcome = exc
    return outcome, published


def _bearer(scope: dict[str, Any]) -> str:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            text = value.decode("latin-1").strip()
            if text.lower().startswith("bearer "):
                return text[7:].strip()
    return ""


def _reason(text: str) -> str:
    return text.encode("utf-8")[:CLOSE_REASON_BYTES].decode("utf-8", "ignore")


def _over_bytes(text: str, limit: int) -> bool:
    """Whether ``text`` is more than ``limit`` bytes of UTF-8, encoding only when in doubt."""
    if len(text) > limit:  # every character is at least one byte
        return True
    if len(text) * 4 <= limit:  # and at most four
        return False
    return len(text.encode("utf-8", "surrogatepass")) > limit


class FrameRateLimiter:
    """A token bucket for one connection: ``rate`` frames a second, ``burst`` at once.

    Over the rate, ``admit`` sleeps until the next token: only this connection's coroutine
    waits, every other socket goes on. A sender that stays over the rate (every frame found the
    bucket empty) for ``close_after`` seconds is refused instead: its frames would otherwise
    pile up in the server's receive queue, which has no bound. ``rate`` 0 admits everything,
    ``close_after`` 0 never refuses.
    """

    def __init__(self, rate: float, burst: int, close_after: float) -> None:
        self.rate = rate
        self.burst = max(1.0, float(burst))
        self.close_after = close_after
        self.tokens = self.burst
        self.updated = time.monotonic()
        self.throttled_since: float | None = None

    def _refill(self, now: float) -> None:
        self.tokens = min(self.burst, self.tokens + (now - self.updated) * self.rate)
        self.updated = now

    async def admit(self) -> bool:
        if self.rate <= 0:
            return True
        now = time.monotonic()
        self._refill(now)
        if self.tokens >= 1:
            self.tokens -= 1
            self.throttled_since = None
            return True
        if self.throttled_since is None:
            self.throttled_since = now
        elif self.close_after > 0 and now - self.throttled_since >= self.close_after:
            return False
        await asyncio.sleep((1 - self.tokens) / self.rate)
        self._refill(time.monotonic())
        self.tokens = max(0.0, self.tokens - 1)
        return True


class AgentConsumer(DirectDispatch):
    token: AgentToken | None = None
    raw_token = ""
    said_hello = False
    joined_machine_group = False
    counted = False
    closing = False
    max_frame_bytes = 0
    frames: FrameRateLimiter | None = None

    async def connect(self) -> None:
        # The token this socket acts with: the handshake's, until a boot nonce's hello swaps
        # it for the session token the welcome carries.
        self.raw_token = _bearer(self.scope)
        try:
            self.token = await database_sync_to_async(agent_token_authenticate)(self.raw_token)
        except AgentAuthenticationError:
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        # Read once per connection: a changed setting applies to new connections.
        self.max_frame_bytes = settings.AGENT_MAX_FRAME_BYTES
        self.frames = FrameRateLimiter(
            settings.AGENT_FRAMES_PER_SECOND,
            settings.AGENT_FRAME_BURST,
            settings.AGENT_FRAME_THROTTLE_CLOSE_SECONDS,
        )
        await self.accept()
        AGENTS_CONNECTED.inc()
        self.counted = True
        if self.token.machine_id is not None:
            await self._join_machine_group()

    async def _join_machine_group(self) -> None:
        assert self.token is not None and self.token.machine_id is not None
        await self.channel_layer.group_add(agent_group(self.token.machine_id), self.channel_name)
        self.joined_machine_group = True

    async def disconnect(self, code: int) -> None:
        if self.counted:  # a refused handshake was never counted
            self.counted = False
            AGENTS_CONNECTED.dec()
        if self.joined_machine_group and self.token is not None and self.token.machine_id:
            await self.channel_layer.group_discard(
                agent_group(self.token.machine_id), self.channel_name
            )

    async def _refuse(self, code: int, reason: str) -> None:
        """Close with ``reason``; frames already queued behind this one are dropped."""
        self.closing = True
        await self.close(code=code, reason=_reason(reason))

    async def receive(
        self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any
    ) -> None:
        if self.closing:
            return
        if self.frames is not None and not await self.frames.admit():
            await self._refuse(
                CLOSE_POLICY_VIOLATION,
                f"over {self.frames.rate:g} frames/s for {self.frames.close_after:g} s",
            )
            return
        if text_data is None:
            await self._refuse(CLOSE_UNSUPPORTED_DATA, "binary frame: send JSON text frames")
            return
        if self.max_frame_bytes and _over_bytes(text_data, self.max_frame_bytes):
            await self._refuse(CLOSE_TOO_BIG, f"frame over {self.max_frame_bytes} bytes")
            return
        try:
            content = await self.decode_json(text_data)
        except ValueError as exc:
            await self._refuse(CLOSE_INVALID_PAYLOAD, f"frame is not JSON: {exc}")
            return
        except RecursionError:  # a few thousand nested brackets fit in any frame
            await self._refuse(CLOSE_INVALID_PAYLOAD, "frame is not JSON: nested too deeply")
            return
        await self.receive_json(content, **kwargs)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if not isinstance(content, dict):
            await self.send_json(ProtocolError(400, "invalid", "expected an object").as_frame())
            return
        reply_to = content.get("id")
        message_type = content.get("type")
        if not isinstance(message_type, str) or not message_type:
            problem = "required" if message_type in (None, "") else "expected a string"
            error = ProtocolError(400, "invalid", {"type": [f"{problem}: the message type"]})
            await self.send_json(error.as_frame(reply_to))
            return
        if message_type not in HANDLERS:
            error = ProtocolError(400, "unknown_type", f"unknown message type '{message_type}'")
            await self.send_json(error.as_frame(reply_to))
            return
        if not self.said_hello and message_type != "hello":
            await self.send_json(
                ProtocolError(400, "hello_first", "send 'hello' first").as_frame(reply_to)
            )
            return
        assert self.token is not None
        if message_type == "logs":
            await self._logs(content, reply_to)
            return
        if message_type == "action_state":
            await self._action_state(content, reply_to)
            return
        # Not thread-sensitive: agents' messages run in parallel worker threads (each with its
        # own database connection) instead of queueing behind one shared thread. One consumer
        # still handles its own messages one at a time, in order.
        reply, published = await DatabaseSyncToAsync(_dispatch_collecting, thread_sensitive=False)(
            self.raw_token, self.token, message_type, content
        )
        await publish_collected(published)
        if isinstance(reply, AgentAuthenticationError):
            self.closing = True
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if isinstance(reply, ProtocolError):
            await self.send_json(reply.as_frame(reply_to))
            return
        if message_type == "hello":
            self.said_hello = True
            if "token" in reply:  # the boot nonce is spent: go on with its session
                self.raw_token = reply["token"]
                self.token = await database_sync_to_async(agent_token_authenticate)(self.raw_token)
            if not self.joined_machine_group and self.token.machine_id is not None:
                # A discovery token belongs to a machine from its first hello on.
                await self._join_machine_group()
        if reply_to is not None:
            reply["reply_to"] = reply_to
        await self.send_json(reply)

    async def _logs(self, content: dict[str, Any], reply_to: Any) -> None:
        """A log batch goes to the process's intake, stored with the other sockets' batches."""
        assert self.token is not None
        try:
            batch = log_batch(self.token, content)
        except ProtocolError as exc:
            await self.send_json(exc.as_frame(reply_to))
            return
        batch.raw_token = self.raw_token  # re-checked with the group's tokens
        batch.parse()  # here, while the intake's writer stores the group before
        outcome = await log_intake().submit(batch)
        if isinstance(outcome, REFUSALS):
            outcome = as_protocol_error(outcome)
        await self._answer(logs_ack(outcome) if isinstance(outcome, dict) else outcome, reply_to)

    async def _action_state(self, content: dict[str, Any], reply_to: Any) -> None:
        """A state report goes to the process's report intake, applied with the other sockets'
        reports (its token re-checked with theirs)."""
        assert self.token is not None
        outcome = await report_intake().submit(ReportItem(self.token, self.raw_token, content))
        await self._answer(outcome, reply_to)

    async def _answer(self, outcome: dict[str, Any] | Exception, reply_to: Any) -> None:
        """Send an intake's outcome: the reply, an error frame for a refusal, or the close of
        a socket whose token no longer authenticates."""
        if isinstance(outcome, AgentAuthenticationError):
            self.closing = True
            await self.close(code=CLOSE_UNAUTHENTICATED)
            return
        if isinstance(outcome, ProtocolError):
            await self.send_json(outcome.as_frame(reply_to))
            return
        if isinstance(outcome, Exception):
            raise outcome  # the socket closes with 1011, as for any failed message
        if reply_to is not None:
            outcome["reply_to"] = reply_to
        await self.send_json(outcome)

    async def work_available(self, message: dict[str, Any]) -> None:
        await self.send_json({"type": "work_available", "workflow": message["workflow"]})

    async def action_cancel(self, message: dict[str, Any]) -> None:
        await self.send_json(
            {"type": "cancel", "action": message["action"], "attempt": message["attempt"]}
        )

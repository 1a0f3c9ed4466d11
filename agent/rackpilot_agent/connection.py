"""The one WebSocket to ``/ws/agent/``: hello, requests by id, pushes, reconnects.

``Connection.run`` keeps a socket open for as long as the agent lives: connect with the bearer
token, send ``hello``, then read frames — replies resolve the request waiting on their
``reply_to``, pushes (``work_available``, ``cancel``) go to callbacks. When the socket drops it
reconnects after a capped, fully jittered exponential delay; when the server refuses the token
(HTTP 401/403 at the handshake, close code 4401 later) it retries slowly instead, since only a
new token helps, and gives up after ``max_auth_failures`` refusals in a row if that is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidStatus

from rackpilot_agent.backoff import Backoff
from rackpilot_agent.config import Settings
from rackpilot_agent.logstream import ServerError
from rackpilot_agent.status import AgentStatus
from rackpilot_agent.tokens import TokenStore

log = logging.getLogger(__name__)

CLOSE_UNAUTHENTICATED = 4401
REPLY_TIMEOUT = 60.0
HELLO_TIMEOUT = 30.0


class ConnectionLost(Exception):
    """The socket dropped before the reply came; the request may or may not have landed."""


class AuthenticationFailed(Exception):
    """The server kept refusing the token; the agent cannot work without a new one."""


class FatalConfigError(Exception):
    """The server refused who the agent says it is in a way retrying cannot fix."""


TOKEN_HINT = (
    "Issue a new token (manage.py issue_agent_token) and pass it with --token, "
    "RACKPILOT_TOKEN, --token-file or rackpilot_token="
)
WORKER_HINT = "Check --worker-id / WORKER_ID / worker_id= against the machine's network interfaces"


class _Refused(Exception):
    """One refused connection attempt (bad token, or a worker id the machine lacks)."""

    def __init__(self, reason: str, hint: str = TOKEN_HINT) -> None:
        super().__init__(reason)
        self.hint = hint


class Connection:
    def __init__(
        self,
        settings: Settings,
        tokens: TokenStore,
        hello: Callable[[], dict[str, Any]],
        *,
        on_work: Callable[[dict[str, Any]], None],
        on_cancel: Callable[[int, int], None],
        backoff: Backoff | None = None,
        status: AgentStatus | None = None,
    ) -> None:
        self.settings = settings
        self.tokens = tokens
        self._hello_payload = hello
        self._on_work = on_work
        self._on_cancel = on_cancel
        self.backoff = backoff or Backoff(settings.backoff_initial, settings.backoff_max)
        self.status = status or AgentStatus(None)
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._ws: ClientConnection | None = None
        self._connected = asyncio.Event()
        self._closing = False
        self._wake_retry = asyncio.Event()
        self.welcome: dict[str, Any] = {}

    # --- the connection loop ---------------------------------------------------------------

    async def run(self) -> None:
        """Stay connected until ``close``; raises AuthenticationFailed or FatalConfigError."""
        refusals = 0
        while not self._closing:
            refused = False
            reason = "the connection closed"
            try:
                self.status.connecting()
                await self._session()
            except _Refused as exc:
                refused = True
                refusals += 1
                reason = f"refused: {exc}"
                log.error("server refused the agent (%d in a row): %s", refusals, exc)
                limit = self.settings.max_auth_failures
                if limit and refusals >= limit:
                    raise AuthenticationFailed(
                        f"the server refused the agent {refusals} time(s): {exc}. {exc.hint}"
                    ) from None
            except (OSError, TimeoutError, InvalidHandshake, ConnectionClosed) as exc:
                log.warning("connection to %s lost: %s", self.settings.websocket_url, exc)
                reason = str(exc) or type(exc).__name__
            else:
                refusals = 0
            if self._closing:
                break
            delay = self.settings.auth_retry if refused else self.backoff.next_delay()
            self.status.disconnected(reason, delay)
            log.info("reconnecting in %.1f s", delay)
            self._wake_retry.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._wake_retry.wait()

    async def _session(self) -> None:
        headers = {"Authorization": f"Bearer {self.tokens.current()}"}
        try:
            ws = await connect(
                self.settings.websocket_url,
                additional_headers=headers,
                open_timeout=15,
                ping_interval=20,
                ping_timeout=20,
                close_timeout=5,
                max_size=16 << 20,
            )
        except InvalidStatus as exc:
            if exc.response.status_code in (401, 403):
                raise _Refused(f"HTTP {exc.response.status_code} at the handshake") from None
            raise
        try:
            self.welcome = await self._hello(ws)
            log.info(
                "connected to %s as %s (machine %s)",
                self.settings.websocket_url,
                self.welcome.get("worker_id"),
                self.welcome.get("machine"),
            )
            self.backoff.reset()
            self.status.connected(self.welcome.get("machine"), self.welcome.get("worker_id"))
            self._ws = ws
            self._connected.set()
            await self._read(ws)
        finally:
            self._connected.clear()
            self._ws = None
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(ConnectionLost("the connection dropped"))
            await ws.close()
        if ws.close_code == CLOSE_UNAUTHENTICATED:
            raise _Refused("the token was refused (close code 4401)")

    async def _hello(self, ws: ClientConnection) -> dict[str, Any]:
        hello_id = next(self._ids)
        await ws.send(json.dumps({"type": "hello", "id": hello_id, **self._hello_payload()}))
        async with asyncio.timeout(HELLO_TIMEOUT):
            async for raw in ws:
                frame = json.loads(raw)
                if frame.get("reply_to") != hello_id:
                    continue  # a push that raced the welcome; next_action will catch up
                if frame.get("type") == "welcome":
                    self._take_session(frame)
                    return dict(frame)
                error = ServerError(frame)
                if error.status == 403:
                    raise _Refused(f"hello refused: {error.detail}", WORKER_HINT)
                raise FatalConfigError(f"the server refused hello: {error}")
        if ws.close_code == CLOSE_UNAUTHENTICATED:
            raise _Refused("the token was refused (close code 4401)")
        raise ConnectionLost("the server closed the connection before welcoming the agent")

    def _take_session(self, welcome: dict[str, Any]) -> None:
        """A boot nonce (the token netboot put on the kernel command line) is good for one
        hello: the welcome carries the session token to use from now on, reconnects too."""
        token, expires_at = welcome.get("token"), welcome.get("expires_at")
        if not isinstance(token, str) or not isinstance(expires_at, str):
            return
        try:
            expires = datetime.fromisoformat(expires_at)
        except ValueError:
            log.warning("ignoring a session token with a bad expiry: %.40r", expires_at)
            return
        self.tokens.renewed(token, expires)
        log.info("boot nonce exchanged for a session token (expires %s)", expires_at)

    async def _read(self, ws: ClientConnection) -> None:
        try:
            async for raw in ws:
                try:
                    frame = json.loads(raw)
                except ValueError:
                    log.warning("ignoring a frame that is not JSON: %.200r", raw)
                    continue
                if isinstance(frame, dict):
                    self._dispatch(frame)
        except ConnectionClosed:
            if ws.close_code != CLOSE_UNAUTHENTICATED:
                raise

    def _dispatch(self, frame: dict[str, Any]) -> None:
        reply_to = frame.get("reply_to")
        if reply_to is not None:
            future = self._pending.get(reply_to)
            if future is not None and not future.done():
                future.set_result(frame)
            return
        kind = frame.get("type")
        if kind == "work_available":
            self._on_work(frame)
        elif kind == "cancel":
            try:
                self._on_cancel(int(frame["action"]), int(frame["attempt"]))
            except (KeyError, TypeError, ValueError):
                log.warning("ignoring a malformed cancel: %r", frame)
        elif kind == "error":
            log.warning("server error: %s", ServerError(frame))
        else:
            log.debug("ignoring a %r frame", kind)

    # --- requests --------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def wait_connected(self) -> None:
        await self._connected.wait()

    async def request(
        self, message: dict[str, Any], timeout: float = REPLY_TIMEOUT
    ) -> dict[str, Any]:
        """Send once and wait for the reply; raises ConnectionLost or ServerError."""
        ws = self._ws
        if ws is None:
            raise ConnectionLost("not connected")
        request_id = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[request_id] = future
        try:
            await ws.send(json.dumps({**message, "id": request_id}))
            # asyncio.timeout, not wait_for: Python 3.11's wait_for swallows a cancellation
            # that arrives just as the reply does, and the agent would not stop.
            async with asyncio.timeout(timeout):
                reply = await future
        except ConnectionClosed as exc:
            # This socket is gone: callers wait for the next one from here on. Left set until
            # the reader noticed, ``call`` would resend at once on the dead socket, and a send
            # that fails without waiting never lets the reader (or anything else) run.
            if self._ws is ws:
                self._connected.clear()
            raise ConnectionLost(str(exc)) from None
        except TimeoutError:
            # A server that stops answering is as good as gone: start over on a new socket.
            log.warning("no reply to %s in %.0f s; reconnecting", message.get("type"), timeout)
            await ws.close(code=1011, reason="reply timeout")
            raise ConnectionLost("reply timeout") from None
        finally:
            self._pending.pop(request_id, None)
            if future.done() and not future.cancelled():
                future.exception()  # consumed, even when this request itself was cancelled
        if reply.get("type") == "error":
            raise ServerError(reply)
        return reply

    async def call(self, message: dict[str, Any]) -> dict[str, Any]:
        """``request`` until it gets an answer, across reconnects.

        Only for messages the protocol makes safe to repeat: every report is idempotent, log
        batches are deduplicated by seq, and asking for the next action changes nothing.
        """
        while True:
            await self.wait_connected()
            try:
                return await self.request(message)
            except ConnectionLost as exc:
                log.info("%s interrupted (%s); retrying after reconnect", message["type"], exc)

    async def reconnect(self) -> None:
        """Drop the socket (e.g. to present a renewed token); run() opens a new one at once."""
        ws = self._ws
        if ws is not None:
            self.backoff.reset()
            await ws.close(code=1000, reason="reconnecting")

    async def close(self) -> None:
        self._closing = True
        self._wake_retry.set()
        ws = self._ws
        if ws is not None:
            await ws.close(code=1001, reason="agent stopping")

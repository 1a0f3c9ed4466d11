"""A stand-in for Rackpilot's ``/ws/agent/`` on loopback, speaking PROTOCOL.md's messages.

Small on purpose: enough state to check what the agent sends and in which order (hello,
running, every log line once and contiguous, then the final state), plus knobs to refuse the
token, drop connections and push frames.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any

from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

GOOD_TOKEN = "rpa_good"
# A boot nonce, good for one hello, whose welcome carries SESSION_TOKEN (PROTOCOL.md).
NONCE = "rpa_nonce"
SESSION_TOKEN = "rpa_session"
WORKER = "52:54:00:12:34:56"


class FakeRackpilot:
    def __init__(self) -> None:
        self.actions: list[dict[str, Any]] = []
        self.received: list[dict[str, Any]] = []
        self.lines: dict[tuple[int, int], dict[int, dict[str, Any]]] = {}
        self.connections: set[ServerConnection] = set()
        self.handshakes = 0
        self.handshake_tokens: list[str] = []
        self.nonce_spent = False
        self.refuse_handshake = False
        self.close_after_hello: int | None = None  # a close code sent right after welcome
        # Answer final reports with the next action, as the server does (False: an older one).
        self.gives_next = False
        self.before_reply: Callable[[dict[str, Any]], Any] | None = None
        self._server: Server | None = None
        self.url = ""

    # --- lifecycle -----------------------------------------------------------------------

    async def start(self) -> str:
        self._server = await serve(
            self._handle, "127.0.0.1", 0, process_request=self._process_request
        )
        port = next(iter(self._server.sockets)).getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        self.handshakes += 1
        if request.path != "/ws/agent/":
            return connection.respond(404, "not found\n")
        token = (request.headers.get("Authorization") or "").removeprefix("Bearer ")
        self.handshake_tokens.append(token)
        good = {GOOD_TOKEN, SESSION_TOKEN} | (set() if self.nonce_spent else {NONCE})
        if self.refuse_handshake or token not in good:
            return connection.respond(403, "forbidden\n")  # what daphne answers a 4401 close
        connection.token = token  # type: ignore[attr-defined]
        return None

    async def drop_all(self) -> None:
        for connection in list(self.connections):
            await connection.close(1012, "restarting")

    async def push(self, frame: dict[str, Any]) -> None:
        for connection in list(self.connections):
            await connection.send(json.dumps(frame))

    # --- queries -------------------------------------------------------------------------

    def types(self) -> list[str]:
        return [frame["type"] for frame in self.received]

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [frame for frame in self.received if frame["type"] == kind]

    def log_texts(self, action: int, attempt: int = 1) -> list[str]:
        stored = self.lines.get((action, attempt), {})
        assert sorted(stored) == list(range(1, len(stored) + 1)), "log seqs are not contiguous"
        return [stored[seq]["text"] for seq in sorted(stored)]

    # --- protocol ------------------------------------------------------------------------

    async def _handle(self, connection: ServerConnection) -> None:
        self.connections.add(connection)
        try:
            async for raw in connection:
                frame = json.loads(raw)
                self.received.append(frame)
                if self.before_reply is not None:
                    outcome = self.before_reply(frame)
                    if asyncio.iscoroutine(outcome):
                        outcome = await outcome
                    if outcome == "drop":
                        await connection.close(1011, "dropped")
                        return
                reply = self._answer(frame)
                if frame["type"] == "hello" and getattr(connection, "token", "") == NONCE:
                    self.nonce_spent = True
                    reply = {**(reply or {}), "token": SESSION_TOKEN}
                    reply["expires_at"] = "2099-01-01T00:00:00+00:00"
                if reply is None:
                    continue
                if "id" in frame:
                    reply["reply_to"] = frame["id"]
                await connection.send(json.dumps(reply))
                if frame["type"] == "hello" and self.close_after_hello is not None:
                    await connection.close(self.close_after_hello, "token revoked")
                    return
        finally:
            self.connections.discard(connection)

    def _current_action(self) -> dict[str, Any] | None:
        for action in self.actions:
            if action["state"] in ("pending", "running"):
                return action
        return None

    def _find(self, action_id: int) -> dict[str, Any]:
        return next(action for action in self.actions if action["action"] == action_id)

    def _answer(self, frame: dict[str, Any]) -> dict[str, Any] | None:
        kind = frame["type"]
        if kind == "hello":
            if frame.get("worker_id", "").lower() != WORKER:
                return _error(403, "forbidden", "worker id is not an interface of the machine")
            return {"type": "welcome", "protocol": 1, "machine": "node-a", "worker_id": WORKER}
        if kind == "next_action":
            action = self._current_action()
            return {"type": "action", "action": dict(action)} if action else {"type": "no_work"}
        if kind == "action_state":
            action = self._find(frame["action"])
            if frame["attempt"] != action["attempt"]:
                return _error(409, "stale_report", "another attempt")
            duplicate = action["state"] == frame["state"]
            if not duplicate and frame["state"] != "running" and action["state"] != "running":
                return _error(409, "stale_report", f"action is {action['state']}")
            action["state"] = frame["state"]
            ack = {
                "type": "action_state_ack",
                "action": action["action"],
                "attempt": action["attempt"],
                "state": action["state"],
                "duplicate": duplicate,
            }
            if self.gives_next and action["state"] != "running":
                following = self._current_action()
                ack["next"] = dict(following) if following else None
            return ack
        if kind == "logs":
            return self._logs(frame)
        if kind == "renew_token":
            return {"type": "token", "token": GOOD_TOKEN, "expires_at": "2099-01-01T00:00:00Z"}
        return _error(400, "unknown_type", kind)

    def _logs(self, frame: dict[str, Any]) -> dict[str, Any]:
        key = (frame["action"], frame["attempt"])
        stored = self.lines.setdefault(key, {})
        acked = max(stored, default=0)
        first = frame["first_seq"]
        if first > acked + 1:
            return _error(409, "stale_report", f"gap in log lines: expected seq {acked + 1}")
        for index, line in enumerate(frame["lines"]):
            seq = first + index
            if seq > acked:
                assert seq not in stored
                stored[seq] = line
        return {"type": "logs_ack", "action": key[0], "acked_seq": max(stored, default=0)}


def _error(status: int, code: str, detail: str) -> dict[str, Any]:
    return {"type": "error", "status": status, "code": code, "detail": detail}


def action_payload(action: int, **overrides: Any) -> dict[str, Any]:
    payload = {
        "workflow": 1,
        "task": "install",
        "worker": WORKER,
        "action": action,
        "attempt": 1,
        "name": f"step-{action}",
        "image": "127.0.0.1:5000/actions/tool:v1",
        "command": [],
        "timeout": 60,
        "environment": {},
        "volumes": [],
        "pid": "",
        "on_failure": [],
        "on_timeout": [],
        "state": "pending",
        "log_seq": 0,
    }
    payload.update(overrides)
    return payload

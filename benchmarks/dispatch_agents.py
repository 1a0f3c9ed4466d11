"""The dispatch benchmark's protocol-level agents and what the run records.

``Agent`` is one socket on /ws/agent/ speaking the protocol as rackpilot_agent's Connection
does (requests by id, pushes recorded); ``report_loop`` is the real agent's cycle of state
reports without a container; ``Results`` holds every measurement of a ``benchmarks/dispatch.py``
run for the report (``benchmarks/dispatch_report.py``).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

DISPATCH_TIMEOUT = 10.0  # a workflow whose agent has not got its action by then is lost
REPLY_TIMEOUT = 120.0


# --- protocol-level agents ----------------------------------------------------------------------


class ServerRefused(Exception):
    pass


@dataclass
class Agent:
    """One agent socket: requests by id, pushes recorded, as rackpilot_agent's Connection."""

    index: int
    machine_id: int
    mac: str
    token: str
    ws: Any = None
    reader: asyncio.Task[None] | None = None
    ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    pending: dict[int, asyncio.Future[dict[str, Any]]] = field(default_factory=dict)
    work: asyncio.Event = field(default_factory=asyncio.Event)
    work_at: float = 0.0
    pushes: int = 0
    stray_errors: list[dict[str, Any]] = field(default_factory=list)
    closed: tuple[int | None, str] | None = None
    got_action: asyncio.Future[tuple[float, dict[str, Any]]] | None = None
    idle_task: asyncio.Task[None] | None = None

    async def connect(self, url: str) -> None:
        import websockets

        self.ws = await websockets.connect(
            url,
            additional_headers={"Authorization": f"Bearer {self.token}"},
            open_timeout=60,
            ping_interval=20,
            ping_timeout=20,
            close_timeout=5,
            max_size=16 << 20,
        )
        self.reader = asyncio.create_task(self._read())
        welcome = await self.call({"type": "hello", "worker_id": self.mac})
        if welcome.get("type") != "welcome":
            raise ServerRefused(f"hello answered {welcome}")
        reply = await self.call({"type": "next_action"})
        if reply.get("type") != "no_work":
            raise ServerRefused(f"an idle agent's next_action answered {reply}")

    async def _read(self) -> None:
        from websockets.exceptions import ConnectionClosed

        try:
            async for raw in self.ws:
                frame = json.loads(raw)
                reply_to = frame.get("reply_to")
                if reply_to is not None:
                    future = self.pending.pop(reply_to, None)
                    if future is not None and not future.done():
                        future.set_result(frame)
                elif frame.get("type") == "work_available":
                    self.pushes += 1
                    self.work_at = time.perf_counter()
                    self.work.set()
                elif frame.get("type") == "error":
                    self.stray_errors.append(frame)
        except ConnectionClosed:
            pass
        finally:
            self.closed = (self.ws.close_code, self.ws.close_reason or "")
            for future in self.pending.values():
                if not future.done():
                    future.set_exception(ServerRefused(f"socket closed {self.closed}"))
            self.pending.clear()

    async def call(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.closed is not None:
            raise ServerRefused(f"socket closed {self.closed}")
        request_id = next(self.ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[request_id] = future
        await self.ws.send(json.dumps({**message, "id": request_id}))
        async with asyncio.timeout(REPLY_TIMEOUT):
            return await future

    async def wait_for_work(self) -> None:
        """The real agent between actions: wait for a push, then ask for the next action."""
        while True:
            await self.work.wait()
            self.work.clear()
            reply = await self.call({"type": "next_action"})
            if reply.get("type") == "action" and self.got_action is not None:
                if not self.got_action.done():
                    self.got_action.set_result((time.perf_counter(), reply))
                return

    async def close(self) -> None:
        if self.idle_task is not None:
            self.idle_task.cancel()
        if self.ws is not None:
            with contextlib.suppress(Exception):
                await self.ws.close()
        if self.reader is not None:
            with contextlib.suppress(BaseException):
                await self.reader


@dataclass
class ReportStats:
    """What the agents' report loops measured. The window opens ``warmup`` seconds after the
    last agent's first ``running`` was acknowledged: from then on every workflow is running,
    and the window measures reports on running workflows, not the fleet's workflow starts
    (a start also moves the machine to provisioning and records events; those are timed on
    their own, ``starts_seconds``)."""

    agents: int
    warmup: float
    duration: float
    window_start: float = float("inf")
    window_end: float = float("inf")
    began: float = field(default_factory=time.perf_counter)
    started_agents: int = 0
    starts_seconds: float = 0.0
    window_opened: asyncio.Event = field(default_factory=asyncio.Event)
    latencies: list[float] = field(default_factory=list)
    next_action_latencies: list[float] = field(default_factory=list)
    acked_in_window: int = 0
    acked_total: int = 0
    # Agent messages (next_action and reports) sent in the window: the server's CPU per message.
    messages_in_window: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    ran_out: int = 0
    # Seconds between two reports of one agent (0: each as soon as the last is acknowledged).
    pace: float = 0.0

    def open_now(self) -> None:
        """The window opens after the warm-up from now (every workflow is running already)."""
        self.started_agents = self.agents
        self.window_start = time.perf_counter() + self.warmup
        self.window_end = self.window_start + self.duration
        self.window_opened.set()

    def agent_started(self) -> None:
        """One more agent's workflow is running; the last one opens the window."""
        self.started_agents += 1
        if self.started_agents == self.agents:
            now = time.perf_counter()
            self.starts_seconds = now - self.began
            self.window_start = now + self.warmup
            self.window_end = self.window_start + self.duration
            self.window_opened.set()

    def give_up(self, reason: str) -> None:
        """Stop every loop: the fleet's workflows did not all start."""
        self.errors[reason] += 1
        self.window_start = self.window_end = time.perf_counter()
        self.window_opened.set()


async def report_loop(agent: Agent, stats: ReportStats) -> None:
    """The real agent's cycle with no container: next_action, running, success, again; the
    next action comes with the answer to a success, as the real agent takes it. An agent that
    stops before its first ``running`` was acknowledged still lets the window open."""
    started = False

    def on_start() -> None:
        nonlocal started
        if not started:
            started = True
            stats.agent_started()

    try:
        await _report_cycle(agent, stats, on_start)
    finally:
        on_start()


async def _report_cycle(agent: Agent, stats: ReportStats, on_start: Any) -> None:
    given: dict[str, Any] | None = None
    # Paced, each agent reports every ``pace`` seconds from a phase of its own, so the fleet
    # offers agents / pace reports a second, evenly spread.
    next_at = time.perf_counter() + random.uniform(0, stats.pace)
    while time.perf_counter() < stats.window_end:
        reply = given
        if reply is None:
            if stats.pace:  # paced, an agent's first message waits for its phase too
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            started = time.perf_counter()
            reply = await agent.call({"type": "next_action"})
            stats.next_action_latencies.append(time.perf_counter() - started)
            if stats.window_start <= started < stats.window_end:
                stats.messages_in_window += 1
        if reply.get("type") != "action":
            stats.ran_out += 1
            return
        action = reply["action"]
        given = None
        states = ["success"] if action["state"] == "running" else ["running", "success"]
        for state in states:
            if time.perf_counter() >= stats.window_end:
                return
            message = {
                "type": "action_state",
                "action": action["action"],
                "attempt": action["attempt"],
                "state": state,
                "at": datetime.now(UTC).isoformat(),
            }
            if state == "success":
                message["exit_code"] = 0
            if stats.pace:
                await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
                next_at += stats.pace
                message["at"] = datetime.now(UTC).isoformat()
            sent = time.perf_counter()
            ack = await agent.call(message)
            acked = time.perf_counter()
            if ack.get("type") != "action_state_ack":
                stats.errors[f"{ack.get('code')}: {str(ack.get('detail'))[:120]}"] += 1
                break
            stats.acked_total += 1
            if state == "running":
                on_start()
            if stats.window_start <= sent < stats.window_end:
                stats.latencies.append(acked - sent)
                stats.messages_in_window += 1
            if stats.window_start <= acked < stats.window_end:
                stats.acked_in_window += 1
            if ack.get("next"):
                given = {"type": "action", "action": ack["next"]}


# --- what a run records -------------------------------------------------------------------------


@dataclass
class Results:
    connected: int = 0
    connect_seconds: float = 0.0
    connect_failures: Counter[str] = field(default_factory=Counter)
    memory_before: dict[int, dict[str, float]] = field(default_factory=dict)
    memory_idle: dict[int, dict[str, float]] = field(default_factory=dict)
    memory_end: dict[int, dict[str, float]] = field(default_factory=dict)
    server_fds_idle: list[int] = field(default_factory=list)
    dispatch: list[float] = field(default_factory=list)
    push: list[float] = field(default_factory=list)
    dispatch_lost: int = 0
    create_seconds: list[float] = field(default_factory=list)
    pubsub: list[float] = field(default_factory=list)
    layer: list[float] = field(default_factory=list)
    reports: ReportStats | None = None
    paced_reports: ReportStats | None = None
    report_window: float = 0.0
    bulk_created: int = 0
    server_cpu_in_window: float = 0.0
    closed_during_run: Counter[str] = field(default_factory=Counter)
    stray_errors: Counter[str] = field(default_factory=Counter)

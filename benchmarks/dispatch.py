"""Agent dispatch at fleet scale: N agents connected to the uvicorn web tier over /ws/agent/.

Three figures, one run, one database:

1. dispatch: agents say hello and wait for work as the real agent does (a ``work_available``
   push, then ``next_action``); workflows are created one at a time through ``workflow_create``
   for random idle agents; the time from the creation's commit to the agent receiving its
   first action. Reference in the same run: a Redis PUBLISH reaching a SUBSCRIBE client on the
   same Redis.
2. state reports: every agent has a running workflow and reports action states (running,
   success, next action...) as fast as the server acknowledges them: reports/s and the
   report → ack latency.
3. memory: the resident and peak memory of each web process with the agents connected.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rackpilot_bench_dispatch \\
    REDIS_URL=redis://127.0.0.1:6379/13 \\
    .venv/bin/python benchmarks/dispatch.py --agents 1000 --workers 1 --workflows 200

It creates (and empties) the benchmark database it is pointed at, raises its own and the
server's open-file limit (one descriptor per socket on each side), and talks to loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import os
import random
import resource
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import (  # noqa: E402
    Figure,
    add_arguments,
    command_line,
    figure,
    fill_defaults,
    free_port,
    percentile,
    reference,
    write_json,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench_dispatch")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
# The server and this process must share it: workflow_create here publishes to the groups the
# server's consumers joined.
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")

GOAL_DISPATCH_P50_MS = 10.0
GOAL_DISPATCH_P99_MS = 50.0
GOAL_REPORTS_PER_S = 1000.0
GOAL_REPORT_P99_MS = 50.0
GOAL_RSS_MB = 300.0
DISPATCH_TIMEOUT = 10.0  # a workflow whose agent has not got its action by then is lost
REPLY_TIMEOUT = 120.0
# Actions per workflow: enough that no agent runs out during the reporting window.
ACTIONS = 30
# Descriptors beyond the sockets: the interpreter, its libraries, PostgreSQL and Redis.
FD_HEADROOM = 512


# --- small helpers ------------------------------------------------------------------------------


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _mac(index: int) -> str:
    return "02:d1:" + ":".join(f"{(index >> shift) & 0xFF:02x}" for shift in (24, 16, 8, 0))


def raise_open_files(needed: int) -> tuple[int, int]:
    """Raise the soft RLIMIT_NOFILE towards ``needed`` (up to the hard limit)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    ceiling = hard if hard != resource.RLIM_INFINITY else max(needed, soft)
    target = max(soft, min(needed, ceiling))
    if target != soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return target, hard


def print_tail(log: Path, lines: int = 40) -> None:
    if log.exists():
        tail = log.read_text(errors="replace").splitlines()[-lines:]
        print(f"--- last lines of {log} ---", *tail, sep="\n", file=sys.stderr)


def fail(message: str, log: Path) -> NoReturn:
    print_tail(log)
    raise SystemExit(f"FAILED: {message}")


def _wait_http(url: str, log: Path, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while True:
        if process.poll() is not None:
            fail(f"the server exited with {process.returncode}", log)
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                fail("the server did not start", log)
            time.sleep(0.2)


def _server_pids(pid: int) -> list[int]:
    """The process started and its children (uvicorn's workers when --workers > 1)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        children = []
    return [pid, *(int(child) for child in children)]


def memory_of(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM of ``pid`` in MB (10^6 bytes; /proc reports KiB)."""
    fields: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            fields[name] = int(value.split()[0]) * 1024 / 1e6
    return fields


def server_memory(pid: int) -> dict[int, dict[str, float]]:
    return {each: memory_of(each) for each in _server_pids(pid)}


def cpu_seconds(pids: list[int]) -> float:
    """User + system CPU time the processes have used so far."""
    total = 0
    for pid in pids:
        with contextlib.suppress(OSError):
            # The fields after the command name (which may hold spaces): utime is the 12th.
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def open_files(pid: int) -> int:
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def _memory_text(snapshot: dict[int, dict[str, float]]) -> str:
    return "; ".join(
        f"pid {pid}: RSS {fields['VmRSS']:.0f} MB, peak {fields['VmHWM']:.0f} MB"
        for pid, fields in snapshot.items()
    )


# --- the database -------------------------------------------------------------------------------


@dataclass
class Fleet:
    template_id: int
    machines: list[int]
    macs: list[str]
    tokens: list[str]


def template_body(actions: int) -> str:
    steps = "".join(
        f"      - name: step-{index:02d}\n"
        "        image: 127.0.0.1:5000/bench/noop:v1\n"
        "        timeout: 600\n"
        for index in range(actions)
    )
    return (
        'version: "0.1"\nname: dispatch-bench\nglobal_timeout: 3600\ntasks:\n'
        '  - name: provision\n    worker: "{{ .device_1 }}"\n    actions:\n' + steps
    )


def prepare(agents: int) -> Fleet:
    import django

    django.setup()
    from django.core.management import call_command

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)

    from inventory.models import Machine, NetworkInterface
    from rackpilot.core.actors import Actor
    from workflows.agent_protocol.tokens import agent_token_issue
    from workflows.services import templates as template_services

    actor = Actor.system("benchmark")
    template = template_services.template_create(
        actor=actor, name="dispatch-bench", body=template_body(ACTIONS)
    )
    # Benchmark fixture data, not a state change of the product: machines and their boot
    # interfaces in bulk. Tokens go through the service (the hash the server looks up).
    machines = Machine.objects.bulk_create(
        [Machine(hostname=f"agent-{index:05d}") for index in range(agents)], batch_size=2000
    )
    macs = [_mac(index) for index in range(agents)]
    NetworkInterface.objects.bulk_create(
        [
            NetworkInterface(machine=machine, name="eth0", mac=macs[index], is_boot=True)
            for index, machine in enumerate(machines)
        ],
        batch_size=2000,
    )
    tokens = [agent_token_issue(machine=machine, actor=actor)[1] for machine in machines]
    return Fleet(template.pk, [machine.pk for machine in machines], macs, tokens)


def create_workflow(template_id: int, machine_id: int) -> tuple[int, float]:
    """``workflow_create`` as a view calls it; returns the workflow and its commit time."""
    from django.db import transaction

    from inventory.models import Machine
    from rackpilot.core.actors import Actor
    from workflows.models import Template
    from workflows.services.engine import workflow_create

    template = Template.objects.get(pk=template_id)
    machine = Machine.objects.get(pk=machine_id)
    committed: list[float] = []
    with transaction.atomic():
        # Registered before the service's own hooks (the publishes): runs first after COMMIT.
        transaction.on_commit(lambda: committed.append(time.perf_counter()))
        workflow = workflow_create(template=template, machine=machine, actor=Actor.system("bench"))
    return workflow.pk, committed[0]


def create_workflows_bulk(template_id: int, machine_ids: list[int]) -> int:
    from inventory.models import Machine
    from rackpilot.core.actors import Actor
    from workflows.models import Template
    from workflows.services.engine import workflow_bulk_create

    result = workflow_bulk_create(
        template=Template.objects.get(pk=template_id),
        machines=Machine.objects.filter(pk__in=machine_ids),
        actor=Actor.system("bench"),
    )
    if result.refused:
        raise RuntimeError(f"workflow_bulk_create refused {result.refused[:3]}")
    return len(result.created)


def close_django_connection() -> None:
    from django.db import connection

    connection.close()


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
    window_start: float
    window_end: float
    latencies: list[float] = field(default_factory=list)
    next_action_latencies: list[float] = field(default_factory=list)
    acked_in_window: int = 0
    acked_total: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    ran_out: int = 0


async def report_loop(agent: Agent, stats: ReportStats) -> None:
    """The real agent's cycle with no container: next_action, running, success, again."""
    while time.perf_counter() < stats.window_end:
        started = time.perf_counter()
        reply = await agent.call({"type": "next_action"})
        stats.next_action_latencies.append(time.perf_counter() - started)
        if reply.get("type") != "action":
            stats.ran_out += 1
            return
        action = reply["action"]
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
            sent = time.perf_counter()
            ack = await agent.call(message)
            acked = time.perf_counter()
            if ack.get("type") != "action_state_ack":
                stats.errors[f"{ack.get('code')}: {str(ack.get('detail'))[:120]}"] += 1
                break
            stats.acked_total += 1
            if stats.window_start <= sent < stats.window_end:
                stats.latencies.append(acked - sent)
            if stats.window_start <= acked < stats.window_end:
                stats.acked_in_window += 1


# --- references ---------------------------------------------------------------------------------


class PubSubProbe:
    """Redis PUBLISH → SUBSCRIBE: what one message through the same Redis takes."""

    def __init__(self, url: str) -> None:
        import redis.asyncio as redis

        self.publisher = redis.Redis.from_url(url)
        self.subscriber = redis.Redis.from_url(url)
        self.channel = f"rackpilot-bench-dispatch-{os.getpid()}"
        self.samples: list[float] = []
        self.received: asyncio.Queue[float] = asyncio.Queue()

    async def start(self) -> None:
        self.pubsub = self.subscriber.pubsub()
        await self.pubsub.subscribe(self.channel)
        self.reader = asyncio.create_task(self._listen())

    async def _listen(self) -> None:
        async for message in self.pubsub.listen():
            if message.get("type") == "message":
                self.received.put_nowait(time.perf_counter())

    async def sample(self) -> None:
        sent = time.perf_counter()
        await self.publisher.publish(self.channel, b"{}")
        arrived = await asyncio.wait_for(self.received.get(), timeout=5)
        self.samples.append(arrived - sent)

    async def stop(self) -> None:
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader
        await self.pubsub.aclose()
        await self.publisher.aclose()
        await self.subscriber.aclose()


class LayerProbe:
    """The channel layer's group_send reaching a member channel (what the dispatch uses)."""

    def __init__(self) -> None:
        from channels.layers import get_channel_layer

        self.layer = get_channel_layer()
        self.group = f"bench-dispatch-probe-{os.getpid()}"
        self.samples: list[float] = []

    async def start(self) -> None:
        self.channel = await self.layer.new_channel()
        await self.layer.group_add(self.group, self.channel)

    async def sample(self) -> None:
        receive = asyncio.create_task(self.layer.receive(self.channel))
        await asyncio.sleep(0)
        sent = time.perf_counter()
        await self.layer.group_send(self.group, {"type": "probe"})
        await asyncio.wait_for(receive, timeout=5)
        self.samples.append(time.perf_counter() - sent)

    async def stop(self) -> None:
        await self.layer.group_discard(self.group, self.channel)


# --- the run ------------------------------------------------------------------------------------


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
    report_window: float = 0.0
    bulk_created: int = 0
    server_cpu_in_window: float = 0.0
    closed_during_run: Counter[str] = field(default_factory=Counter)
    stray_errors: Counter[str] = field(default_factory=Counter)


async def connect_all(fleet: Fleet, url: str, at_once: int, results: Results) -> list[Agent]:
    semaphore = asyncio.Semaphore(at_once)
    agents = [
        Agent(index, machine, mac, token)
        for index, (machine, mac, token) in enumerate(
            zip(fleet.machines, fleet.macs, fleet.tokens, strict=True)
        )
    ]

    async def one(agent: Agent) -> bool:
        async with semaphore:
            try:
                await agent.connect(url)
                return True
            except Exception as exc:
                results.connect_failures[f"{type(exc).__name__}: {str(exc)[:160]}"] += 1
                await agent.close()
                return False

    started = time.perf_counter()
    ok = await asyncio.gather(*(one(agent) for agent in agents))
    results.connect_seconds = time.perf_counter() - started
    connected = [agent for agent, good in zip(agents, ok, strict=True) if good]
    results.connected = len(connected)
    return connected


async def scenario(
    args: argparse.Namespace, fleet: Fleet, url: str, server_pid: int, results: Results
) -> None:
    database = ThreadPoolExecutor(max_workers=1, thread_name_prefix="bench-orm")
    loop = asyncio.get_running_loop()
    results.memory_before = server_memory(server_pid)
    agents = await connect_all(fleet, url, args.connect_at_once, results)
    if not agents:
        raise RuntimeError("no agent could connect")
    try:
        # 3. memory with every agent connected and idle.
        await asyncio.sleep(args.settle)
        results.memory_idle = server_memory(server_pid)
        results.server_fds_idle = [open_files(pid) for pid in results.memory_idle]

        # 1. dispatch, with the references sampled in between, under the same conditions.
        pubsub = PubSubProbe(os.environ["REDIS_URL"])
        layer = LayerProbe()
        await pubsub.start()
        await layer.start()
        for agent in agents:
            agent.idle_task = asyncio.create_task(agent.wait_for_work())
        idle = list(agents)
        random.shuffle(idle)
        for _ in range(min(args.workflows, len(idle))):
            agent = idle.pop()
            agent.got_action = loop.create_future()
            agent.work_at = 0.0
            called = time.perf_counter()
            _, committed = await loop.run_in_executor(
                database, create_workflow, fleet.template_id, agent.machine_id
            )
            results.create_seconds.append(time.perf_counter() - called)
            try:
                received, _reply = await asyncio.wait_for(
                    asyncio.shield(agent.got_action), DISPATCH_TIMEOUT
                )
            except TimeoutError:
                results.dispatch_lost += 1
            else:
                results.dispatch.append(received - committed)
                if agent.work_at:
                    results.push.append(agent.work_at - committed)
            await pubsub.sample()
            await layer.sample()
            await asyncio.sleep(args.pause)
        results.pubsub, results.layer = pubsub.samples, layer.samples
        await pubsub.stop()
        await layer.stop()

        # 2. state reports: every agent gets a workflow (the ones from 1 have theirs).
        for agent in agents:
            if agent.idle_task is not None:
                agent.idle_task.cancel()
        await asyncio.gather(
            *(a.idle_task for a in agents if a.idle_task is not None), return_exceptions=True
        )
        without = [a.machine_id for a in agents if a.got_action is None]
        if without:
            results.bulk_created = await loop.run_in_executor(
                database, create_workflows_bulk, fleet.template_id, without
            )
        await asyncio.sleep(1.0)  # the pushes of the bulk creation are delivered and ignored
        start = time.perf_counter()
        stats = ReportStats(start + args.warmup, start + args.warmup + args.duration)
        results.reports = stats
        results.report_window = args.duration

        async def server_cpu_in_window() -> float:
            pids = _server_pids(server_pid)
            await asyncio.sleep(stats.window_start - time.perf_counter())
            first = cpu_seconds(pids)
            await asyncio.sleep(stats.window_end - time.perf_counter())
            return cpu_seconds(pids) - first

        cpu = asyncio.create_task(server_cpu_in_window())
        outcomes = await asyncio.gather(
            *(report_loop(agent, stats) for agent in agents), return_exceptions=True
        )
        results.server_cpu_in_window = await cpu
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                stats.errors[f"{type(outcome).__name__}: {str(outcome)[:120]}"] += 1
        results.memory_end = server_memory(server_pid)
    finally:
        for agent in agents:
            if agent.closed is not None:
                results.closed_during_run[f"code {agent.closed[0]} {agent.closed[1]}"] += 1
            for error in agent.stray_errors:
                results.stray_errors[f"{error.get('code')}: {error.get('detail')}"] += 1
        await asyncio.gather(*(agent.close() for agent in agents))
        await loop.run_in_executor(database, close_django_connection)
        database.shutdown()


# --- output -------------------------------------------------------------------------------------


def build_report(
    args: argparse.Namespace, results: Results, log_problems: list[str]
) -> tuple[list[Figure], list[str]]:
    n = results.connected
    d50 = _ms(percentile(results.dispatch, 0.50))
    d99 = _ms(percentile(results.dispatch, 0.99))
    r50 = _ms(percentile(results.pubsub, 0.50))
    r99 = _ms(percentile(results.pubsub, 0.99))
    stats = results.reports
    assert stats is not None
    rate = stats.acked_in_window / results.report_window
    a99 = _ms(percentile(stats.latencies, 0.99))
    rss = max((fields["VmRSS"] for fields in results.memory_idle.values()), default=float("nan"))
    figures = [
        figure(
            f"dispatch p50, {n} connected agents (commit → first action)",
            d50,
            "ms",
            goal=f"≤ {GOAL_DISPATCH_P50_MS:g} ms",
            met=d50 <= GOAL_DISPATCH_P50_MS,
            reference=reference("Redis PUBLISH → SUBSCRIBE p50", r50, "ms"),
        ),
        figure(
            f"dispatch p99, {n} connected agents (commit → first action)",
            d99,
            "ms",
            goal=f"≤ {GOAL_DISPATCH_P99_MS:g} ms",
            met=d99 <= GOAL_DISPATCH_P99_MS and results.dispatch_lost == 0,
            reference=reference("Redis PUBLISH → SUBSCRIBE p99", r99, "ms"),
        ),
        figure(
            f"state reports/s, {n} running workflows",
            rate,
            "reports/s",
            goal=f"≥ {GOAL_REPORTS_PER_S:,.0f} reports/s",
            met=rate >= GOAL_REPORTS_PER_S and not stats.errors,
        ),
        figure(
            f"state report → ack p99, {n} running workflows",
            a99,
            "ms",
            goal=f"≤ {GOAL_REPORT_P99_MS:g} ms",
            met=a99 <= GOAL_REPORT_P99_MS,
        ),
        figure(
            f"web process RSS (largest of {len(results.memory_idle)}), {n} agents connected idle",
            rss,
            "MB",
            goal=f"≤ {GOAL_RSS_MB:g} MB per process",
            met=rss <= GOAL_RSS_MB,
        ),
    ]
    push50 = _ms(percentile(results.push, 0.50))
    push99 = _ms(percentile(results.push, 0.99))
    l50 = _ms(percentile(results.layer, 0.50))
    l99 = _ms(percentile(results.layer, 0.99))
    c50 = _ms(percentile(results.create_seconds, 0.50))
    na99 = _ms(percentile(stats.next_action_latencies, 0.99))
    messages = stats.acked_in_window * 3 / 2  # a next_action per running + success pair
    cpu_share = results.server_cpu_in_window / results.report_window
    cpu_ms_per_message = _ms(results.server_cpu_in_window / messages) if messages else 0.0
    before = max((f["VmRSS"] for f in results.memory_before.values()), default=0.0)
    per_socket_kb = (rss - before) * 1e3 / n if n else float("nan")
    notes = [
        f"uvicorn x {args.workers} (rackpilot.webserver.web_command); {n}/{args.agents} agents "
        f"connected in {results.connect_seconds:.1f} s ({args.connect_at_once} handshakes at "
        "once, each: WebSocket upgrade, hello, next_action answered no_work)",
        "an idle agent learns of work by a push: workflow_create publishes work.available to "
        "the machine's channel-layer group after the commit, the consumer sends "
        "work_available, the agent asks next_action and gets the action. The dispatch figure "
        "covers all of it; commit → work_available push alone: "
        f"p50 {push50:.1f} ms, p99 {push99:.1f} ms",
        f"dispatch: {len(results.dispatch)} workflows measured, {results.dispatch_lost} lost "
        f"(no action within {DISPATCH_TIMEOUT:g} s); workflow_create itself took p50 "
        f"{c50:.1f} ms in this process",
        "the channel layer is channels_redis' RedisChannelLayer (lists and BZPOPMIN, not "
        "PUBLISH): its group_send → receive in this process, same run: "
        f"p50 {l50:.2f} ms, p99 {l99:.2f} ms",
        f"state reports: each agent loops next_action, running, success as the real agent "
        f"does (no container); {stats.acked_in_window} reports acked in the "
        f"{results.report_window:g} s window after {args.warmup:g} s of warm-up "
        f"({stats.acked_total} in all, next_action p99 {na99:.1f} ms, "
        f"{len(stats.errors)} kinds of error, {stats.ran_out} agents out of actions); "
        f"{results.bulk_created} workflows made with workflow_bulk_create for it",
        "with every agent always waiting for an ack, report → ack latency is queueing: "
        "agents / (reports/s) by Little's law",
        f"web processes' CPU in the reporting window: {results.server_cpu_in_window:.1f} s "
        f"of {results.report_window:g} s ({cpu_share:.0%} of one core), "
        f"{cpu_ms_per_message:.1f} ms CPU per agent message (next_action or report)",
        f"web processes before the agents: {_memory_text(results.memory_before)}; with them "
        f"idle: {_memory_text(results.memory_idle)} (≈ {per_socket_kb:.0f} kB per agent "
        f"socket); at the end: {_memory_text(results.memory_end)}; open descriptors "
        f"{results.server_fds_idle}",
        f"open-file limit raised to {args.nofile} (soft; hard {args.nofile_hard}) in this "
        "process and the server's (setrlimit, preexec_fn)",
    ]
    if results.connect_failures:
        notes.append(f"connection failures: {dict(results.connect_failures)}")
    if stats.errors:
        notes.append(f"report errors: {dict(stats.errors)}")
    if results.closed_during_run:
        notes.append(
            f"sockets closed by the server during the run: {dict(results.closed_during_run)}"
        )
    if results.stray_errors:
        notes.append(f"error frames without a request: {dict(results.stray_errors)}")
    notes.extend(log_problems)
    return figures, notes


def print_report(command: str, figures: list[Figure], notes: list[str]) -> None:
    for each in figures:
        line = f"{each['name']}: {each['value']:,.1f} {each['unit']}"
        if each["goal"]:
            line += f"  (goal {each['goal']}: {'met' if each['met'] else 'NOT met'})"
        print(line)
        if each["reference"]:
            ref = each["reference"]
            print(
                f"  reference, same run: {ref['name']} {ref['value']:.2f} {ref['unit']}; "
                f"ratio {each['ratio']:.1f}"
            )
    print("notes:")
    for note in notes:
        print(f"  - {note}")
    print(f"command: {command}")


def server_log_problems(log: Path) -> list[str]:
    """Tracebacks in the server's log, grouped by exception and the project frame raising it."""
    lines = log.read_text(errors="replace").splitlines() if log.exists() else []
    kinds: Counter[str] = Counter()
    frame = ""
    inside = False
    for line in lines:
        if line.startswith("Traceback"):
            inside, frame = True, ""
        elif inside and line.startswith("  File ") and str(ROOT) in line and "/.venv/" not in line:
            frame = line.strip().replace(str(ROOT) + "/", "")
        elif inside and not line.startswith(" "):
            kinds[f"{line.strip()} (last project frame: {frame or 'none'})"] += 1
            inside = False
    return [f"server log: {count} x {kind}" for kind, count in kinds.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, help="connected agents (1,000; quick 200)")
    parser.add_argument("--workers", type=int, default=1, help="web processes (WEB_CONCURRENCY)")
    parser.add_argument("--workflows", type=int, help="dispatches measured (200; quick 50)")
    parser.add_argument("--duration", type=float, help="reporting window, s (20; quick 5)")
    parser.add_argument("--warmup", type=float, help="reports before the window, s (3; quick 1)")
    parser.add_argument("--settle", type=float, help="idle time before memory, s (3; quick 1)")
    parser.add_argument("--pause", type=float, default=0.02, help="pause between two dispatches, s")
    parser.add_argument(
        "--connect-at-once", type=int, default=50, help="agent handshakes in flight at once"
    )
    add_arguments(parser)
    args = parser.parse_args()
    fill_defaults(
        args,
        full={"agents": 1000, "workflows": 200, "duration": 20.0, "warmup": 3.0, "settle": 3.0},
        quick={"agents": 200, "workflows": 50, "duration": 5.0, "warmup": 1.0, "settle": 1.0},
    )
    command = command_line()

    # One descriptor per agent socket here and one per socket in the server.
    args.nofile, args.nofile_hard = raise_open_files(args.agents + FD_HEADROOM)
    if args.nofile < args.agents + FD_HEADROOM:
        raise SystemExit(
            f"the open-file limit ({args.nofile}, hard {args.nofile_hard}) is below "
            f"{args.agents + FD_HEADROOM}: raise the hard limit (ulimit -Hn) first"
        )

    started = time.perf_counter()
    fleet = prepare(args.agents)
    setup_seconds = time.perf_counter() - started
    close_django_connection()

    from rackpilot.webserver import web_command

    workdir = Path(tempfile.mkdtemp(prefix="rackpilot-bench-dispatch-"))
    log = workdir / "server.log"
    port = free_port()
    limit = (args.nofile, args.nofile_hard)
    server = subprocess.Popen(
        web_command(server="uvicorn", port=port, workers=args.workers),
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=open(log, "w"),  # noqa: SIM115
        preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limit),
    )
    results = Results()
    try:
        _wait_http(f"http://127.0.0.1:{port}/healthz", log, server)
        time.sleep(1.0 if args.workers > 1 else 0.0)  # every worker up
        asyncio.run(scenario(args, fleet, f"ws://127.0.0.1:{port}/ws/agent/", server.pid, results))
    except BaseException:
        print_tail(log)
        raise
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()

    figures, notes = build_report(args, results, server_log_problems(log))
    notes.insert(
        0,
        f"setup (database, {args.agents} machines and tokens) {setup_seconds:.1f} s; "
        f"whole run {time.perf_counter() - started:.0f} s",
    )
    print(
        f"agents={args.agents} workers={args.workers} workflows={args.workflows} "
        f"report window={args.duration:g} s cpus={os.cpu_count()}"
    )
    print_report(command, figures, notes)
    write_json(args.json, "dispatch", figures, notes)
    if server_log_problems(log):
        print(f"server log kept: {log}")
    else:
        log.unlink(missing_ok=True)
        workdir.rmdir()


if __name__ == "__main__":
    main()

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
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import (  # noqa: E402
    add_arguments,
    command_line,
    fill_defaults,
    free_port,
    stop_process,
    write_json,
)
from benchmarks.dispatch_agents import (  # noqa: E402
    DISPATCH_TIMEOUT,
    Agent,
    ReportStats,
    Results,
    report_loop,
)
from benchmarks.dispatch_report import (  # noqa: E402
    GOAL_REPORTS_PER_S,
    LayerProbe,
    PubSubProbe,
    build_report,
    print_report,
    server_log_problems,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench_dispatch")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/13")
# The server and this process must share it: workflow_create here publishes to the groups the
# server's consumers joined.
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")
os.environ.setdefault("ALLOWED_HOSTS", "127.0.0.1")

# Actions per workflow: enough that no agent runs out in either reporting window at a few
# thousand reports a second.
ACTIONS = 100
START_TIMEOUT = 120.0  # every agent's first report acknowledged by then, or the run stops
# Descriptors beyond the sockets: the interpreter, its libraries, PostgreSQL and Redis.
FD_HEADROOM = 512


# --- small helpers ------------------------------------------------------------------------------


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
    # Statistics as autovacuum leaves them in service a minute later (the netboot and cockpit
    # benchmarks do the same after seeding): planned on the nearly empty tables of a minute
    # ago, a re-check of an agent's token read every workflow of the table on every message.
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE")
    return len(result.created)


def close_django_connection() -> None:
    from django.db import connection

    connection.close()


# --- the run ------------------------------------------------------------------------------------


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
        stats = ReportStats(len(agents), args.warmup, args.duration)
        results.reports = stats
        results.report_window = args.duration

        async def server_cpu_in_window() -> float:
            pids = _server_pids(server_pid)
            try:
                await asyncio.wait_for(stats.window_opened.wait(), START_TIMEOUT)
            except TimeoutError:
                stats.give_up(f"the workflows had not all started after {START_TIMEOUT:g} s")
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

        # 4. the same fleet offering the goal's rate, evenly spread: report → ack latency
        # when the server is not saturated (above, every agent always waits: latency is queueing).
        paced = ReportStats(len(agents), args.warmup, args.paced_duration)
        paced.pace = len(agents) / GOAL_REPORTS_PER_S
        paced.open_now()
        results.paced_reports = paced
        outcomes = await asyncio.gather(
            *(report_loop(agent, paced) for agent in agents), return_exceptions=True
        )
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                paced.errors[f"{type(outcome).__name__}: {str(outcome)[:120]}"] += 1
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, help="connected agents (1,000; quick 200)")
    parser.add_argument("--workers", type=int, default=1, help="web processes (WEB_CONCURRENCY)")
    parser.add_argument("--workflows", type=int, help="dispatches measured (200; quick 50)")
    parser.add_argument("--duration", type=float, help="reporting window, s (20; quick 5)")
    parser.add_argument("--warmup", type=float, help="reports before the window, s (3; quick 1)")
    parser.add_argument(
        "--paced-duration", type=float, help="window at the goal's rate, s (10; quick 3)"
    )
    parser.add_argument("--settle", type=float, help="idle time before memory, s (3; quick 1)")
    parser.add_argument("--pause", type=float, default=0.02, help="pause between two dispatches, s")
    parser.add_argument(
        "--connect-at-once", type=int, default=50, help="agent handshakes in flight at once"
    )
    add_arguments(parser)
    args = parser.parse_args()
    fill_defaults(
        args,
        full={
            "agents": 1000,
            "workflows": 200,
            "duration": 20.0,
            "paced_duration": 10.0,
            "warmup": 3.0,
            "settle": 3.0,
        },
        quick={
            "agents": 200,
            "workflows": 50,
            "duration": 5.0,
            "paced_duration": 3.0,
            "warmup": 1.0,
            "settle": 1.0,
        },
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
        stop_process(server, timeout=20)

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

"""Stock HookOS against Rackpilot: the gRPC WorkflowService under many tink-agents, and the
syslog intake under a steady sender.

1. ``--agents`` simulated tink-agents (gRPC, one client process, asyncio) each run a workflow of
   ``--actions`` actions: GetAction, RUNNING, SUCCESS per action, then GetAction until nothing
   is left. Reference, same run, same machines and workflows: as many Rackpilot agents doing
   the same over ``/ws/agent/`` (hello, next_action, running, success).
2. A sender writes ``--syslog-rate`` lines/s over UDP for ``--syslog-seconds`` to
   ``tinkerbell_syslog``, as one action's dockerd would; then a burst over TCP as fast as the
   socket takes it. Reference: PostgreSQL COPY of the same rows (the floor any intake pays).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rackpilot_bench \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
    .venv/bin/python benchmarks/tinkerbell_agents.py --agents 1000

It creates (and empties) the benchmark database it is pointed at; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")
SYSLOG_IP = "127.0.0.1"
WEBSOCKET_AT_ONCE = 16


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(agents: int, actions: int, *, name: str) -> list[dict[str, Any]]:
    """``agents`` machines, each with one workflow of ``actions`` actions, and a token each."""
    from inventory import services as inventory_services
    from rackpilot.core.actors import Actor
    from workflows.agent_protocol.tokens import agent_token_issue
    from workflows.services import templates as template_services
    from workflows.services.engine import workflow_create

    actor = Actor.system("benchmark")
    steps = "".join(
        f"      - name: step-{n}\n        image: 127.0.0.1:5000/bench/a:v1\n"
        "        timeout: 3600\n        environment: {B: b, A: a}\n"
        for n in range(actions)
    )
    body = (
        f'version: "0.1"\nname: {name}\nglobal_timeout: 3600\ntasks:\n  - name: t\n'
        f'    worker: "{{{{ .device_1 }}}}"\n    volumes: ["/dev:/dev"]\n    actions:\n{steps}'
    )
    template = template_services.template_create(actor=actor, name=name, body=body)
    runs = []
    for index in range(agents):
        machine = inventory_services.machine_create(actor=actor, hostname=f"{name}-{index:04d}")
        mac = f"52:54:{ord(name[0]):02x}:be:{index // 256:02x}:{index % 256:02x}"
        inventory_services.interface_create(machine=machine, actor=actor, mac=mac)
        workflow_create(template=template, machine=machine, actor=actor)
        _, raw = agent_token_issue(machine=machine, actor=actor)
        runs.append({"mac": mac, "token": raw})
    return runs


def _server(command: list[str], ready: str, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    assert process.stdout is not None
    deadline = time.monotonic() + 30
    for line in process.stdout:
        if ready.encode() in line or time.monotonic() > deadline:
            break
    return process


async def grpc_agents(address: str, runs: list[dict[str, Any]], actions: int) -> dict[str, Any]:
    import grpc

    from tinkerbell.agent_grpc import workflow_pb2 as pb
    from tinkerbell.agent_grpc import workflow_pb2_grpc as pb_grpc

    channel = grpc.aio.insecure_channel(address)
    stub = pb_grpc.WorkflowServiceStub(channel)
    calls = 0

    async def agent(mac: str) -> None:
        nonlocal calls
        done = 0
        while done < actions:
            action = await stub.GetAction(pb.ActionRequest(agent_id=mac))
            calls += 1
            for state in (pb.ActionStatusRequest.RUNNING, pb.ActionStatusRequest.SUCCESS):
                await stub.ReportActionStatus(
                    pb.ActionStatusRequest(
                        agent_id=mac, action_id=action.action_id, action_state=state
                    )
                )
                calls += 1
            done += 1
        try:
            await stub.GetAction(pb.ActionRequest(agent_id=mac))
        except grpc.aio.AioRpcError as error:
            if error.code() != grpc.StatusCode.FAILED_PRECONDITION:
                raise
        calls += 1

    started = time.perf_counter()
    await asyncio.gather(*(agent(run["mac"]) for run in runs))
    elapsed = time.perf_counter() - started
    await channel.close()
    return {"seconds": elapsed, "calls": calls, "calls_per_s": calls / elapsed}


async def websocket_agents(ws_url: str, runs: list[dict[str, Any]], actions: int) -> dict[str, Any]:
    import websockets

    calls = 0

    async def agent(run: dict[str, Any]) -> None:
        nonlocal calls
        headers = {"Authorization": f"Bearer {run['token']}"}
        async with websockets.connect(f"{ws_url}/ws/agent/", additional_headers=headers) as ws:
            ids = iter(range(1, 10_000))

            async def call(message: dict[str, Any]) -> dict[str, Any]:
                nonlocal calls
                message["id"] = next(ids)
                await ws.send(json.dumps(message))
                while True:
                    reply = json.loads(await ws.recv())
                    if reply.get("reply_to") == message["id"]:
                        calls += 1
                        return dict(reply)

            await call({"type": "hello", "worker_id": run["mac"]})
            for _ in range(actions):
                action = (await call({"type": "next_action"}))["action"]
                for state in ("running", "success"):
                    await call(
                        {
                            "type": "action_state",
                            "action": action["action"],
                            "attempt": action["attempt"],
                            "state": state,
                        }
                    )
            assert (await call({"type": "next_action"}))["type"] == "no_work"

    started = time.perf_counter()
    # As many agents at once as the gRPC server has threads: one daphne process serves its
    # synchronous database work on a small connection pool, and hundreds of sockets at once
    # exhaust it (answered 1011) — the scale-out issue's subject, not this comparison's.
    semaphore = asyncio.Semaphore(WEBSOCKET_AT_ONCE)

    async def limited(run: dict[str, Any]) -> None:
        async with semaphore:
            await agent(run)

    await asyncio.gather(*(limited(run) for run in runs))
    elapsed = time.perf_counter() - started
    return {"seconds": elapsed, "calls": calls, "calls_per_s": calls / elapsed}


def syslog_action() -> int:
    """One machine at the sender's address with a running action; returns the action id."""
    from inventory import services as inventory_services
    from rackpilot.core.actors import Actor
    from workflows.agent_protocol.services import ActionReport, machine_report_action
    from workflows.models import Action
    from workflows.services import templates as template_services
    from workflows.services.engine import workflow_create

    actor = Actor.system("benchmark")
    body = (
        'version: "0.1"\nname: syslog\nglobal_timeout: 3600\ntasks:\n  - name: t\n'
        '    worker: "{{ .device_1 }}"\n    actions:\n      - name: stream-image\n'
        "        image: 127.0.0.1:5000/bench/a:v1\n        timeout: 3600\n"
    )
    template = template_services.template_create(actor=actor, name="syslog", body=body)
    machine = inventory_services.machine_create(actor=actor, hostname="syslog-0")
    inventory_services.interface_create(
        machine=machine, actor=actor, mac="52:54:00:5b:00:01", ip=SYSLOG_IP
    )
    workflow = workflow_create(template=template, machine=machine, actor=actor)
    action = Action.objects.get(task__workflow=workflow)
    machine_report_action(
        machine=machine,
        report=ActionReport(action_id=action.pk, attempt=1, state="running"),
        exit_code_required=False,
    )
    return action.pk


def _stored(action_id: int) -> int:
    from workflows.models import LogLine

    return LogLine.objects.filter(action_id=action_id).count()


def _wait_stored(action_id: int, count: int, timeout: float = 120) -> float:
    deadline = time.monotonic() + timeout
    while _stored(action_id) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return time.monotonic()


def syslog_steady(port: int, action_id: int, rate: int, seconds: int) -> dict[str, Any]:
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    total = rate * seconds
    started = time.monotonic()
    for number in range(total):
        due = started + number / rate
        delay = due - time.monotonic()
        if delay > 0:
            time.sleep(delay)
        sock.sendto(
            f"<14>stream-image: steady line {number} {'x' * 60}".encode(), (SYSLOG_IP, port)
        )
    sent_at = time.monotonic()
    stored_at = _wait_stored(action_id, total, timeout=30)
    stored = _stored(action_id)
    return {
        "sent": total,
        "stored": stored,
        "send_seconds": sent_at - started,
        "stored_per_s": stored / (stored_at - started),
        "lag_after_last_s": stored_at - sent_at,
    }


def syslog_burst(port: int, action_id: int, lines: int) -> dict[str, Any]:
    before = _stored(action_id)
    payload = b"".join(
        f"<14>stream-image: burst line {n} {'x' * 60}\n".encode() for n in range(lines)
    )
    started = time.monotonic()
    with socket.create_connection((SYSLOG_IP, port)) as sock:
        sock.sendall(payload)
    stored_at = _wait_stored(action_id, before + lines)
    stored = _stored(action_id) - before
    return {"sent": lines, "stored": stored, "stored_per_s": stored / (stored_at - started)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--agents", type=int, default=1000)
    parser.add_argument("--actions", type=int, default=2)
    parser.add_argument("--syslog-rate", type=int, default=1000)
    parser.add_argument("--syslog-seconds", type=int, default=10)
    parser.add_argument("--burst", type=int, default=50_000)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from log_pipeline import copy_reference

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    print(f"preparing {args.agents} machines twice (gRPC and WebSocket) ...", flush=True)
    started = time.perf_counter()
    grpc_runs = prepare(args.agents, args.actions, name="grpc")
    ws_runs = prepare(args.agents, args.actions, name="ws")
    action_id = syslog_action()
    print(f"  prepared in {time.perf_counter() - started:.1f} s", flush=True)

    env = dict(os.environ)
    grpc_port, web_port, syslog_port = _free_port(), _free_port(), _free_port()
    python = sys.executable
    servers = [
        _server(
            [python, "manage.py", "tinkerbell_grpc", "--bind", f"127.0.0.1:{grpc_port}"],
            "WorkflowService on",
            env,
        ),
        _server(
            [python, "manage.py", "tinkerbell_syslog", "--bind", f"127.0.0.1:{syslog_port}"],
            "syslog intake on",
            env,
        ),
        subprocess.Popen(
            [
                python,
                "-m",
                "daphne",
                "-b",
                "127.0.0.1",
                "-p",
                str(web_port),
                "rackpilot.asgi:application",
            ],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        ),
    ]
    try:
        time.sleep(3)  # daphne
        results: dict[str, Any] = {}
        results["grpc"] = asyncio.run(
            grpc_agents(f"127.0.0.1:{grpc_port}", grpc_runs, args.actions)
        )
        results["websocket"] = asyncio.run(
            websocket_agents(f"ws://127.0.0.1:{web_port}", ws_runs, args.actions)
        )
        results["syslog_steady"] = syslog_steady(
            syslog_port, action_id, args.syslog_rate, args.syslog_seconds
        )
        results["syslog_burst"] = syslog_burst(syslog_port, action_id, args.burst)
        copy_seconds = copy_reference(args.burst)
        results["copy_reference_rows_per_s"] = args.burst / copy_seconds
    finally:
        for server in servers:
            server.terminate()
        for server in servers:
            server.wait(timeout=30)

    grpc_rate, ws_rate = results["grpc"]["calls_per_s"], results["websocket"]["calls_per_s"]
    steady, burst = results["syslog_steady"], results["syslog_burst"]
    print(json.dumps(results, indent=2))
    print()
    print("| figure | Rackpilot | reference, same run | ratio |")
    print("|---|---|---|---|")
    print(
        f"| {args.agents} tink-agents, gRPC calls/s | {grpc_rate:,.0f} | "
        f"WebSocket agents {ws_rate:,.0f} | {grpc_rate / ws_rate:.2f} |"
    )
    print(
        f"| syslog at {args.syslog_rate}/s, stored/s | {steady['stored_per_s']:,.0f} "
        f"({steady['stored']}/{steady['sent']}, lag {steady['lag_after_last_s']:.2f} s) | "
        f"sender {args.syslog_rate}/s | {steady['stored_per_s'] / args.syslog_rate:.2f} |"
    )
    print(
        f"| syslog TCP burst, stored/s | {burst['stored_per_s']:,.0f} ({burst['stored']}/"
        f"{burst['sent']}) | PostgreSQL COPY {results['copy_reference_rows_per_s']:,.0f} rows/s | "
        f"{burst['stored_per_s'] / results['copy_reference_rows_per_s']:.3f} |"
    )


if __name__ == "__main__":
    main()

"""Log pipeline throughput and latency: N agents → daphne → PostgreSQL → M browser sockets.

Reference measured in the same run: PostgreSQL COPY of the same rows into a table shaped
like LogLine (the fastest way those rows can reach the database on this machine).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rackpilot_bench \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
    .venv/bin/python benchmarks/log_pipeline.py --agents 4 --browsers 2 --lines 20000

It creates (and empties) the benchmark database it is pointed at. Everything talks to
loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")

BATCH = 500
WINDOW = 4  # batches an agent may have in flight before it waits for an ack


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def prepare(agents: int) -> tuple[list[dict[str, object]], str]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.test import Client

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)

    from inventory import services as inventory_services
    from rackpilot.core.actors import Actor
    from tests.factories import UserFactory
    from workflows.agent_protocol.tokens import agent_token_issue
    from workflows.services import templates as template_services
    from workflows.services.engine import workflow_create

    actor = Actor.system("benchmark")
    body = (
        'version: "0.1"\nname: bench\nglobal_timeout: 3600\ntasks:\n  - name: t\n'
        '    worker: "{{ .device_1 }}"\n    actions:\n      - name: emit\n'
        "        image: 127.0.0.1:5000/bench/lines:v1\n        timeout: 3600\n"
    )
    template = template_services.template_create(actor=actor, name="bench", body=body)
    runs = []
    for index in range(agents):
        machine = inventory_services.machine_create(actor=actor, hostname=f"bench-{index:03d}")
        mac = f"52:54:00:be:{index // 256:02x}:{index % 256:02x}"
        inventory_services.interface_create(machine=machine, actor=actor, mac=mac)
        workflow = workflow_create(template=template, machine=machine, actor=actor)
        _, raw = agent_token_issue(machine=machine, actor=actor)
        runs.append({"workflow": workflow.pk, "token": raw, "mac": mac})
    user = UserFactory(username="bench-viewer")
    client = Client()
    client.force_login(user)
    return runs, client.cookies["sessionid"].value


async def run_agent(
    ws_url: str, run: dict[str, object], lines: int, sent: dict[str, int], rate: float
) -> float:
    import websockets

    headers = {"Authorization": f"Bearer {run['token']}"}
    async with websockets.connect(
        f"{ws_url}/ws/agent/", additional_headers=headers, max_size=None
    ) as ws:

        async def call(message: dict[str, object]) -> dict[str, object]:
            await ws.send(json.dumps(message))
            while True:
                reply = json.loads(await ws.recv())
                if reply.get("reply_to") == message.get("id"):
                    return reply

        await call({"id": 1, "type": "hello", "worker_id": run["mac"]})
        action = (await call({"id": 2, "type": "next_action"}))["action"]
        action_id = action["action"]  # type: ignore[index]
        await call(
            {"id": 3, "type": "action_state", "action": action_id, "attempt": 1, "state": "running"}
        )
        started = time.perf_counter()
        in_flight = 0
        seq = 1
        next_id = 10
        # With a rate, the agent writes like a real one (a batch every 50 ms); without, it
        # sends as fast as acknowledgements allow (saturation).
        per_batch = max(1, int(rate * 0.05)) if rate else BATCH
        next_send = time.perf_counter()
        while seq <= lines or in_flight:
            while seq <= lines and in_flight < WINDOW:
                if rate:
                    delay = next_send - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                    next_send += 0.05
                count = min(per_batch, lines - seq + 1)
                now = time.time()
                batch = [
                    {
                        "stream": "stdout",
                        "ts": datetime.fromtimestamp(now, UTC).isoformat(),
                        "text": f"{now:.6f} line {seq + i} " + "x" * 60,
                    }
                    for i in range(count)
                ]
                await ws.send(
                    json.dumps(
                        {
                            "id": next_id,
                            "type": "logs",
                            "action": action_id,
                            "attempt": 1,
                            "first_seq": seq,
                            "lines": batch,
                        }
                    )
                )
                next_id += 1
                seq += count
                in_flight += 1
            reply = json.loads(await ws.recv())
            if reply.get("type") == "logs_ack":
                in_flight -= 1
            elif reply.get("type") == "error":
                raise RuntimeError(reply)
        sent["lines"] += lines
        return time.perf_counter() - started


async def run_browser(
    ws_url: str,
    origin: str,
    cookie: str,
    workflow: int,
    expected: int,
    latencies: list[float],
    gaps: list[int],
) -> int:
    """A viewer as the dashboard's live log is one: it drops lines it has and, when a frame
    starts past its last seq (a live frame the server could not deliver in time), fetches the
    missing range before going on."""
    import websockets

    headers = {"Cookie": f"sessionid={cookie}", "Origin": origin}
    received = 0
    async with websockets.connect(
        f"{ws_url}/ws/workflows/{workflow}/", additional_headers=headers, max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe"}))
        last_seq = 0
        fetching = False
        while received < expected:
            frame = json.loads(await asyncio.wait_for(ws.recv(), timeout=120))
            if frame.get("type") != "lines":
                continue
            if frame["first_seq"] > last_seq + 1:
                # Ask once for everything up to the end of this frame; drop the frame meanwhile.
                if not fetching:
                    fetching = True
                    gaps.append(frame["first_seq"] - last_seq - 1)
                    await ws.send(
                        json.dumps(
                            {
                                "type": "fetch",
                                "action": frame["action"],
                                "attempt": frame["attempt"],
                                "after_seq": last_seq,
                                "until_seq": frame["lines"][-1]["seq"],
                            }
                        )
                    )
                continue
            now = time.time()
            for line in frame["lines"]:
                if line["seq"] <= last_seq:
                    continue
                last_seq = line["seq"]
                fetching = False
                received += 1
                latencies.append(now - float(line["text"].split(" ", 1)[0]))
    return received


def copy_reference(rows: int) -> float:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    with psycopg.connect(**params) as conn, conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE bench_copy (action_id bigint, attempt int, seq bigint, "
            "stream varchar(6), timestamp timestamptz, text text, "
            "UNIQUE (action_id, attempt, seq))"
        )
        now = datetime.now(UTC)
        started = time.perf_counter()
        with cur.copy(
            "COPY bench_copy (action_id, attempt, seq, stream, timestamp, text) FROM STDIN"
        ) as copy:
            for seq in range(1, rows + 1):
                copy.write_row(
                    (1, 1, seq, "stdout", now, f"{time.time():.6f} line {seq} " + "x" * 60)
                )
        conn.commit()
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--browsers", type=int, default=2, help="viewers per workflow")
    parser.add_argument("--lines", type=int, default=20_000, help="lines per agent")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="lines/s per agent, written in 50 ms batches (default: as fast as possible)",
    )
    args = parser.parse_args()

    runs, cookie = prepare(args.agents)
    gaps: list[int] = []
    port = _free_port()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            "127.0.0.1",
            "-p",
            str(port),
            "rackpilot.asgi:application",
        ],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        stdout=subprocess.DEVNULL,
        stderr=open("/tmp/bench-server.log", "w"),  # noqa: SIM115
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise SystemExit("the server did not start") from None
                time.sleep(0.2)
        ws_url = f"ws://127.0.0.1:{port}"
        origin = f"http://127.0.0.1:{port}"

        async def scenario() -> tuple[float, list[float], int]:
            latencies: list[float] = []
            sent = {"lines": 0}
            viewers = [
                asyncio.create_task(
                    run_browser(
                        ws_url, origin, cookie, int(run["workflow"]), args.lines, latencies, gaps
                    )
                )
                for run in runs
                for _ in range(args.browsers)
            ]
            await asyncio.sleep(1.0)  # viewers subscribed before the first line
            started = time.perf_counter()
            await asyncio.gather(
                *(run_agent(ws_url, run, args.lines, sent, args.rate) for run in runs)
            )
            received = sum(await asyncio.gather(*viewers))
            return time.perf_counter() - started, latencies, received

        elapsed, latencies, received = asyncio.run(scenario())
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=15)

    total = args.agents * args.lines
    copy_seconds = copy_reference(total)
    latencies.sort()
    pipeline_rate = total / elapsed
    copy_rate = total / copy_seconds
    print(
        f"agents={args.agents} viewers/workflow={args.browsers} lines/agent={args.lines} "
        f"batch={BATCH} window={WINDOW} rate/agent={args.rate or 'max'}"
    )
    print(
        f"pipeline: {total} lines stored in {elapsed:.2f} s = {pipeline_rate:,.0f} lines/s; "
        f"{received} lines delivered to {len(runs) * args.browsers} viewers "
        f"({len(gaps)} gaps of {sum(gaps)} lines refetched by seq)"
    )
    print(
        f"latency agent write -> viewer receive: p50 {statistics.median(latencies) * 1000:.1f} ms"
        f", p99 {latencies[int(len(latencies) * 0.99) - 1] * 1000:.1f} ms"
    )
    print(f"reference: PostgreSQL COPY of the same {total} rows: {copy_rate:,.0f} rows/s")
    print(f"ratio pipeline / COPY: {pipeline_rate / copy_rate:.3f}")


if __name__ == "__main__":
    main()

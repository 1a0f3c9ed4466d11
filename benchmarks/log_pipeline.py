"""Log pipeline throughput and latency: N agents → the web server → PostgreSQL → M browser sockets.

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
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import (  # noqa: E402
    add_arguments,
    figure,
    fill_defaults,
    free_port,
    percentile,
    reference,
    stop_process,
    write_json,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")

BATCH = 500
WINDOW = 4  # batches an agent may have in flight before it waits for an ack
BATCH_INTERVAL = 0.05  # the real agent ships a line at most this long after writing it
TIP_GRACE = 1.0  # the dashboard's TIP_GRACE_MS (static/rackpilot/live-log.js)
PADDING = "x" * 60  # a line's text after its write time and number


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
    user = UserFactory(username="bench-viewer", role="viewer")  # may watch workflows
    client = Client()
    client.force_login(user)
    return runs, client.cookies["sessionid"].value


async def run_agent(
    ws_url: str,
    run: dict[str, object],
    lines: int,
    sent: dict[str, int],
    rate: float,
    ready: asyncio.Barrier,
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

        try:
            await call({"id": 1, "type": "hello", "worker_id": run["mac"]})
            action = (await call({"id": 2, "type": "next_action"}))["action"]
            action_id = action["action"]  # type: ignore[index]
            await call(
                {
                    "id": 3,
                    "type": "action_state",
                    "action": action_id,
                    "attempt": 1,
                    "state": "running",
                }
            )
        except BaseException:
            await ready.abort()  # the others would wait for this agent for ever
            raise
        # Every agent is connected and running before the first line: the latencies are the
        # pipeline's, not those of a hundred hellos and starts at the same instant.
        await ready.wait()
        started = time.perf_counter()
        t0 = time.time()
        in_flight = 0
        failure: list[object] = []
        acked = asyncio.Event()

        async def read_acks() -> None:
            nonlocal in_flight
            async for raw in ws:
                reply = orjson.loads(raw)
                if reply.get("type") == "logs_ack":
                    in_flight -= 1
                elif reply.get("type") == "error":
                    failure.append(reply)
                acked.set()

        async def ack_or_failure() -> None:
            acked.clear()
            await acked.wait()
            if failure:
                raise RuntimeError(failure[0])

        reader = asyncio.create_task(read_acks())
        seq = 1
        next_id = 10
        # With a rate, line k is written at t0 + (k - 1) / rate and the agent ships what is
        # written as a real one does: once the oldest unsent line is BATCH_INTERVAL old, up to
        # BATCH lines, WINDOW batches in flight, so batches grow when the server falls behind.
        # Without, it sends full batches as fast as acknowledgements allow (saturation).
        while seq <= lines:
            if in_flight >= WINDOW:
                await ack_or_failure()
                continue
            now = time.time()
            if rate:
                send_at = t0 + (seq - 1) / rate + BATCH_INTERVAL
                if now < send_at:
                    await asyncio.sleep(send_at - now)
                    continue
                written = int((now - t0) * rate) + 1
                count = min(BATCH, lines - seq + 1, written - seq + 1)
                stamps = [t0 + (seq - 1 + i) / rate for i in range(count)]
            else:
                count = min(BATCH, lines - seq + 1)
                stamps = [now] * count
            # The client shares the machine with the server: what it spends on a line is taken
            # from the server's share, so stamps are written once each and the JSON by orjson.
            # (Saturated, a batch's lines share one stamp.)
            shown = {
                stamp: (datetime.fromtimestamp(stamp, UTC).isoformat(), f"{stamp:.6f}")
                for stamp in set(stamps)
            }
            batch = [
                {
                    "stream": "stdout",
                    "ts": shown[stamp][0],
                    "text": f"{shown[stamp][1]} line {seq + i} {PADDING}",
                }
                for i, stamp in enumerate(stamps)
            ]
            await ws.send(
                orjson.dumps(
                    {
                        "id": next_id,
                        "type": "logs",
                        "action": action_id,
                        "attempt": 1,
                        "first_seq": seq,
                        "lines": batch,
                    }
                ).decode()
            )
            next_id += 1
            seq += count
            in_flight += 1
        while in_flight:
            await ack_or_failure()
        reader.cancel()
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
    starts past its last seq (a live frame the server could not deliver in time) or a tip says
    the server has more, fetches the missing range before going on."""
    import websockets

    headers = {"Cookie": f"sessionid={cookie}", "Origin": origin}
    received = 0
    async with websockets.connect(
        f"{ws_url}/ws/workflows/{workflow}/", additional_headers=headers, max_size=None
    ) as ws:
        await ws.send(json.dumps({"type": "subscribe"}))
        last_seq = 0
        fetching = False
        # (action, its log_seq in a tip, when to ask): a tip is read from the database, so
        # lines committed just before it may still be on their way live. As the dashboard
        # does, they get TIP_GRACE seconds before the viewer asks for them.
        behind: dict[int, tuple[dict[str, Any], float]] = {}
        while received < expected:
            idle = not behind  # then only a frame ends the wait, or 120 s without one
            due = min((at for _, at in behind.values()), default=time.monotonic() + 120)
            try:
                raw = await asyncio.wait_for(ws.recv(), timeout=max(0.0, due - time.monotonic()))
            except TimeoutError:
                if idle:
                    raise TimeoutError("no frame for 120 s") from None
                raw = None
            for action_id, (action, at) in list(behind.items()):
                if at > time.monotonic():
                    continue
                del behind[action_id]
                if action["log_seq"] > last_seq:
                    # The server has lines this viewer never got live (a lost last frame, or
                    # a fetch whose answer was dropped): ask for them.
                    fetching = True
                    gaps.append(action["log_seq"] - last_seq)
                    await ws.send(
                        json.dumps(
                            {
                                "type": "fetch",
                                "action": action["id"],
                                "attempt": action["attempt"],
                                "after_seq": last_seq,
                                "until_seq": action["log_seq"],
                            }
                        )
                    )
            if raw is None:
                continue
            frame = orjson.loads(raw)
            if frame.get("type") == "tip":
                for action in frame["actions"]:
                    if action["log_seq"] > last_seq and action["id"] not in behind:
                        behind[action["id"]] = (action, time.monotonic() + TIP_GRACE)
                continue
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


def _reference_connection() -> Any:
    import psycopg
    from django.db import connection

    params = connection.get_connection_params()
    params.pop("cursor_factory", None)
    params.pop("context", None)
    return psycopg.connect(**params, autocommit=True)


def checkpoint() -> None:
    """Write out what earlier runs left in PostgreSQL's WAL, so that a checkpoint they made due
    does not land in the middle of the next measurement (the pipeline's or the reference's)."""
    import psycopg

    try:
        with _reference_connection() as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("note: not allowed to run CHECKPOINT; figures may vary more", file=sys.stderr)


def copy_reference(rows: int, *, logged: bool) -> float:
    """Seconds to COPY ``rows`` rows like the pipeline's into a table keyed like LogLine: a
    regular table (``logged``: written to the WAL and kept, as LogLine is) or a temporary one
    (neither: a lower bound no durable table reaches)."""
    checkpoint()
    kind = "" if logged else "TEMP "
    with _reference_connection() as conn, conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS bench_copy")
        cur.execute(
            f"CREATE {kind}TABLE bench_copy (action_id bigint, attempt int, seq bigint, "
            "stream varchar(6), timestamp timestamptz, text text, "
            "PRIMARY KEY (action_id, attempt, seq))"
        )
        now = datetime.now(UTC)
        try:
            started = time.perf_counter()
            with (
                conn.transaction(),
                cur.copy(
                    "COPY bench_copy (action_id, attempt, seq, stream, timestamp, text) FROM STDIN"
                ) as copy,
            ):
                for seq in range(1, rows + 1):
                    copy.write_row(
                        (1, 1, seq, "stdout", now, f"{time.time():.6f} line {seq} " + "x" * 60)
                    )
            return time.perf_counter() - started
        finally:
            cur.execute("DROP TABLE bench_copy")


def viewer_workflows(runs: list[dict[str, object]], args: argparse.Namespace) -> list[int]:
    """The workflow each viewer watches: ``--browsers`` per workflow, or ``--viewers`` in all
    spread over the workflows in turn."""
    workflows = [int(str(run["workflow"])) for run in runs]
    if args.viewers is not None:
        return [workflows[index % len(workflows)] for index in range(args.viewers)]
    return [workflow for workflow in workflows for _ in range(args.browsers)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=4)
    parser.add_argument("--browsers", type=int, default=2, help="viewers per workflow")
    parser.add_argument(
        "--viewers", type=int, help="viewers in all, one workflow each (instead of --browsers)"
    )
    parser.add_argument("--lines", type=int, help="lines per agent (default 20,000, --quick 2,000)")
    parser.add_argument(
        "--rate",
        type=float,
        default=0.0,
        help="lines/s per agent, shipped as the agent does (the oldest line at most 50 ms old); "
        "default: full batches as fast as possible",
    )
    parser.add_argument(
        "--server",
        default="uvicorn",
        choices=["uvicorn", "daphne"],
        help="the web server (rackpilot/webserver.py builds its command line)",
    )
    parser.add_argument("--workers", type=int, default=1, help="web worker processes")
    add_arguments(parser)
    args = parser.parse_args()
    fill_defaults(args, full={"lines": 20_000}, quick={"lines": 2_000})

    from rackpilot.webserver import web_command

    runs, cookie = prepare(args.agents)
    watched = viewer_workflows(runs, args)
    checkpoint()
    gaps: list[int] = []
    port = free_port()
    log = Path(tempfile.mkstemp(prefix="rackpilot-bench-log-pipeline-", suffix=".log")[1])
    with open(log, "w") as stderr:
        server = subprocess.Popen(
            web_command(server=args.server, port=port, workers=args.workers),
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            stdout=subprocess.DEVNULL,
            stderr=stderr,
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
                    run_browser(ws_url, origin, cookie, workflow, args.lines, latencies, gaps)
                )
                for workflow in watched
            ]
            await asyncio.sleep(1.0)  # viewers subscribed before the first line
            ready = asyncio.Barrier(len(runs) + 1)
            agents = [
                asyncio.create_task(run_agent(ws_url, run, args.lines, sent, args.rate, ready))
                for run in runs
            ]
            await ready.wait()
            started = time.perf_counter()
            await asyncio.gather(*agents)
            stored = time.perf_counter() - started
            received = sum(await asyncio.gather(*viewers))
            return stored, latencies, received

        elapsed, latencies, received = asyncio.run(scenario())
    except BaseException:
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print(f"--- last lines of {log} ---", *tail, sep="\n", file=sys.stderr)
        raise
    finally:
        stop_process(server)
        log.unlink(missing_ok=True)

    total = args.agents * args.lines
    pipeline_rate = total / elapsed
    # The faster of the two: both are bound by the client's writing rows more than by the WAL.
    copy_rates = {
        "temporary": total / copy_reference(total, logged=False),
        "regular": total / copy_reference(total, logged=True),
    }
    copy_rate = max(copy_rates.values())
    p50, p99 = percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    offered = args.agents * args.rate
    print(
        f"agents={args.agents} viewers={len(watched)} lines/agent={args.lines} "
        f"batch={BATCH} window={WINDOW} rate/agent={args.rate or 'max'} "
        f"server={args.server} x {args.workers}"
    )
    print(
        f"pipeline: {total} lines stored in {elapsed:.2f} s = {pipeline_rate:,.0f} lines/s"
        + (f" (offered {offered:,.0f} lines/s)" if args.rate else "")
        + f"; {received} lines delivered to {len(watched)} viewers "
        f"({len(gaps)} gaps of {sum(gaps)} lines refetched by seq)"
    )
    print(f"latency agent write -> viewer receive: p50 {p50:.1f} ms, p99 {p99:.1f} ms")
    print(
        f"reference: PostgreSQL COPY of the same {total} rows: {copy_rate:,.0f} rows/s (into a "
        + " / ".join(f"{kind} table {rate:,.0f}" for kind, rate in copy_rates.items())
        + ")"
    )
    print(f"ratio pipeline / COPY: {pipeline_rate / copy_rate:.3f}")

    fleet = f"{args.agents} agents + {len(watched)} viewers"
    copy = reference("PostgreSQL COPY, same rows", copy_rate, "rows/s")
    if args.rate:
        figures = [
            figure(
                f"log lines stored, {fleet}, offered {offered:,.0f} lines/s",
                pipeline_rate,
                "lines/s",
            ),
            figure(f"log latency agent→viewer p50, {args.rate:g} lines/s/agent", p50, "ms"),
            figure(
                f"log latency agent→viewer p99, {args.rate:g} lines/s/agent",
                p99,
                "ms",
                goal="≤ 100 ms",
                met=p99 <= 100,
            ),
        ]
    else:
        figures = [
            figure(
                f"log pipeline throughput, {fleet}",
                pipeline_rate,
                "lines/s",
                goal="≥ 50 % of COPY",
                met=pipeline_rate >= 0.5 * copy_rate,
                reference=copy,
            ),
            figure("log latency agent→viewer p99, saturated", p99, "ms"),
        ]
    write_json(
        args.json,
        "log_pipeline",
        figures,
        [
            f"{total:,} lines ({args.lines:,} per agent), {received:,} delivered to viewers, "
            f"{len(gaps)} gaps refetched; {args.server} x {args.workers}; COPY reference "
            f"{copy_rate:,.0f} rows/s, the faster of a temporary table "
            f"({copy_rates['temporary']:,.0f}) and a regular one ({copy_rates['regular']:,.0f}) "
            "keyed as LogLine is",
            "latency runs from the line's write by the agent to its receipt by the viewer; paced, "
            "it includes the agent's batching (a line is shipped up to 50 ms after its write); "
            "every agent has said hello and started its action before the first line is written",
        ],
    )


if __name__ == "__main__":
    main()

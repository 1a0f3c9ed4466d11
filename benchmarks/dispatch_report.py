"""The dispatch benchmark's references and report.

The references are sampled in the same run as the dispatches: a Redis PUBLISH reaching a
SUBSCRIBE client (``PubSubProbe``) and the channel layer's group_send reaching a member channel
(``LayerProbe``). ``build_report`` turns a run's ``Results`` into figures (with the goals) and
notes, ``print_report`` prints them, and ``server_log_problems`` groups the tracebacks in the
server's log.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import time
from collections import Counter
from pathlib import Path

from benchmarks.common import Figure, figure, percentile, reference
from benchmarks.dispatch_agents import DISPATCH_TIMEOUT, Results

ROOT = Path(__file__).resolve().parent.parent

GOAL_DISPATCH_P50_MS = 10.0
GOAL_DISPATCH_P99_MS = 50.0
GOAL_REPORTS_PER_S = 1000.0
GOAL_REPORT_P99_MS = 50.0
GOAL_RSS_MB = 300.0


def _ms(seconds: float) -> float:
    return seconds * 1000.0


def _memory_text(snapshot: dict[int, dict[str, float]]) -> str:
    return "; ".join(
        f"pid {pid}: RSS {fields['VmRSS']:.0f} MB, peak {fields['VmHWM']:.0f} MB"
        for pid, fields in snapshot.items()
    )


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
    paced = results.paced_reports
    assert paced is not None
    paced_rate = paced.acked_in_window / paced.duration
    p50 = _ms(percentile(paced.latencies, 0.50))
    p99 = _ms(percentile(paced.latencies, 0.99))
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
            met=rate >= GOAL_REPORTS_PER_S and not stats.errors and not stats.ran_out,
        ),
        figure(
            f"workflow starts/s (each agent's first running report), {n} workflows",
            stats.started_agents / stats.starts_seconds if stats.starts_seconds else 0.0,
            "starts/s",
        ),
        figure(
            f"state report → ack p99, {n} running workflows offering "
            f"{GOAL_REPORTS_PER_S:,.0f} reports/s",
            p99,
            "ms",
            goal=f"≤ {GOAL_REPORT_P99_MS:g} ms",
            # Measured at the goal's rate only if the fleet kept offering it.
            met=p99 <= GOAL_REPORT_P99_MS
            and not paced.errors
            and not paced.ran_out
            and paced_rate >= 0.95 * GOAL_REPORTS_PER_S,
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
    messages = stats.messages_in_window
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
        "the channel layer is channels_redis' pub/sub layer (a group_send is one PUBLISH): "
        "its group_send → receive in this process, same run: "
        f"p50 {l50:.2f} ms, p99 {l99:.2f} ms",
        "state reports: each agent loops next_action, running, success as the real agent "
        "does (no container; the next action comes with the answer to a success); "
        f"{stats.acked_in_window} reports acked in the "
        f"{results.report_window:g} s window, which opens {args.warmup:g} s after every "
        f"workflow is running (the fleet's {stats.started_agents} starts took "
        f"{stats.starts_seconds:.1f} s before it) "
        f"({stats.acked_total} in all, next_action p99 {na99:.1f} ms, "
        f"{len(stats.errors)} kinds of error, {stats.ran_out} agents out of actions); "
        f"{results.bulk_created} workflows made with workflow_bulk_create for it",
        "with every agent always waiting for an ack, report → ack latency is queueing: "
        f"agents / (reports/s) by Little's law (p99 {a99:,.0f} ms in that window); the p99 "
        f"figure is measured at the goal's rate instead: each agent reports every "
        f"{paced.pace:g} s from a phase of its own, {paced.duration:g} s window after "
        f"{paced.warmup:g} s: {paced_rate:,.0f} reports/s acknowledged, p50 {p50:.1f} ms, "
        f"p99 {p99:.1f} ms, {len(paced.errors)} kinds of error, {paced.ran_out} agents out "
        "of actions",
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
    if paced.errors:
        notes.append(f"report errors at the goal's rate: {dict(paced.errors)}")
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

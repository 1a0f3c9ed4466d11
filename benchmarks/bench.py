"""Every benchmark in one run: figures next to their goals and their same-run references.

    .venv/bin/python benchmarks/bench.py [--quick] [--only netboot cockpit ...]

(``make bench`` and ``make bench BENCH_ARGS=--quick`` run it.) Each benchmark script runs in
turn, one at a time, in a database of its own (``rackpilot_bench_<name>`` on the server of
``DATABASE_URL``, default postgres://postgres@127.0.0.1:5432) and a Redis database of its own
(10-15 on the server of ``REDIS_URL``, default redis://127.0.0.1:6379), and writes its figures
as JSON (benchmarks/common.py). They are collected, with what the machine is, into
``--output`` (default benchmarks/results.json) and printed as one table. A benchmark that
fails is recorded as failed with the tail of its output and the others still run; the exit
status is 1 if any failed. A figure that misses its goal is a result, not a failure.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432"
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379"
TAIL_LINES = 40
# Settings the benchmarks must not inherit from the caller (the test suite's, for example):
# they measure the product's defaults.
CLEARED_ENV = ("DB_POOL_MAX_SIZE", "DB_CONN_MAX_AGE", "CHANNELS_PREFIX", "WEB_CONCURRENCY")


@dataclass(frozen=True)
class Run:
    """One benchmark script run: its arguments in full and in quick mode."""

    name: str
    script: str
    database: str
    redis_db: int
    full: list[str] = field(default_factory=list)
    quick: list[str] = field(default_factory=list)
    full_timeout: float = 300.0
    quick_timeout: float = 90.0
    optional: bool = False  # skipped (and said so) when the script is not there


# The web tier as make run starts it on this machine: WEB_CONCURRENCY defaults to the cores.
WEB2 = ["--workers", "2"]

RUNS = [
    Run("netboot", "netboot.py", "netboot", 10, full=WEB2, quick=WEB2, full_timeout=240),
    Run(
        "netboot-scaling",
        "netboot.py",
        "netboot",
        11,
        full=["--parts", "scripts", "--workers", "1", "2", "4"],
        quick=["--parts", "scripts", "--workers", "1", "2", "4"],
        full_timeout=240,
    ),
    Run(
        "log-pipeline-paced",
        "log_pipeline.py",
        "log_pipeline",
        12,
        # Two web processes: WEB_CONCURRENCY's default (one per core) on this 2-core machine.
        full=["--agents", "100", "--viewers", "20", "--rate", "20", "--lines", "600", *WEB2],
        quick=["--agents", "50", "--viewers", "10", "--rate", "20", "--lines", "100", *WEB2],
        full_timeout=180,
    ),
    Run(
        "log-pipeline-saturated",
        "log_pipeline.py",
        "log_pipeline",
        12,
        full=["--agents", "100", "--viewers", "20", "--lines", "5000", *WEB2],
        quick=["--agents", "50", "--viewers", "10", "--lines", "300", *WEB2],
        full_timeout=240,
    ),
    Run(
        "cockpit-api",
        "cockpit.py",
        "cockpit",
        14,
        full=["--select", "API machine list", "--page", "100", "--events", "20000"],
        quick=["--select", "API machine list", "--page", "20"],
        full_timeout=240,
    ),
    Run(
        "dispatch",
        "dispatch.py",
        "dispatch",
        13,
        full=WEB2,
        quick=WEB2,
        full_timeout=300,
        quick_timeout=120,
        optional=True,
    ),
]


def database_url(base: str, name: str) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, ""))


def redis_url(base: str, db: int) -> str:
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, f"/{db}", parts.query, ""))


def machine() -> dict[str, Any]:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    cpu_model = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                cpu_model = line.split(":", 1)[1].strip()
                break
    return {
        "cores": os.cpu_count(),
        "memory_bytes": memory,
        "cpu_model": cpu_model,
        "python": platform.python_version(),
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def tail(path: Path) -> list[str]:
    return path.read_text(errors="replace").splitlines()[-TAIL_LINES:]


def run_one(run: Run, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Runs one benchmark script; its JSON, or a failed record with the tail of its output."""
    json_path = workdir / f"{run.name}.json"
    log_path = workdir / f"{run.name}.log"
    command = [
        sys.executable,
        str(HERE / run.script),
        *(run.quick if args.quick else run.full),
        *(["--quick"] if args.quick else []),
        "--json",
        str(json_path),
    ]
    env = {key: value for key, value in os.environ.items() if key not in CLEARED_ENV}
    env.update(
        {
            "DATABASE_URL": database_url(
                args.database_url, f"{args.database_prefix}{run.database}"
            ),
            "REDIS_URL": redis_url(args.redis_url, run.redis_db),
            "PYTHONUNBUFFERED": "1",
        }
    )
    timeout = run.quick_timeout if args.quick else run.full_timeout
    started = time.monotonic()
    print(f"{run.name}: {shlex.join(command[1:])}", flush=True)
    with open(log_path, "w") as log:
        # A session of its own: a timeout stops the script's servers and load generators too.
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            returncode: int | str = process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
            returncode = f"timed out after {timeout:g} s"
    seconds = time.monotonic() - started
    if args.verbose:
        sys.stdout.write(log_path.read_text(errors="replace"))
    if returncode == 0 and json_path.exists():
        result: dict[str, Any] = json.loads(json_path.read_text())
        result["benchmark"] = run.name
        result["seconds"] = round(seconds, 1)
        result["failed"] = False
        print(f"  done in {seconds:.0f} s", flush=True)
        return result
    reason = returncode if returncode != 0 else "wrote no JSON"
    print(f"  FAILED ({reason}) after {seconds:.0f} s; last lines:", flush=True)
    lines = tail(log_path)
    for line in lines:
        print(f"    {line}")
    return {
        "benchmark": run.name,
        "command": shlex.join(command),
        "figures": [],
        "notes": [],
        "seconds": round(seconds, 1),
        "failed": True,
        "error": f"exit status {reason}" if isinstance(reason, int) else str(reason),
        "output_tail": lines,
    }


def number(value: float) -> str:
    if value != value:  # NaN
        return "—"
    magnitude = abs(value)
    if magnitude >= 100 or value == int(value):
        return f"{value:,.0f}"
    if magnitude >= 10:
        return f"{value:,.1f}"
    if magnitude >= 0.01:
        return f"{value:.2f}"
    return f"{value:.2g}"


def ratio_text(ratio: float | None) -> str:
    if ratio is None:
        return "—"
    return f"{ratio:.3f}" if ratio < 10 else f"{ratio:,.1f}"


def table(results: list[dict[str, Any]]) -> str:
    header = ["benchmark", "figure", "value", "goal", "met", "reference", "ratio"]
    rows = []
    for result in results:
        if result.get("failed"):
            rows.append([result["benchmark"], "FAILED: " + result["error"], "", "", "", "", ""])
            continue
        if result.get("skipped"):
            rows.append([result["benchmark"], "skipped: " + result["reason"], "", "", "", "", ""])
            continue
        for fig in result["figures"]:
            ref = fig.get("reference")
            met = {True: "yes", False: "MISSED", None: "—"}[fig.get("met")]
            rows.append(
                [
                    result["benchmark"],
                    fig["name"],
                    f"{number(fig['value'])} {fig['unit']}",
                    fig.get("goal") or "—",
                    met,
                    f"{ref['name']}: {number(ref['value'])} {ref['unit']}" if ref else "—",
                    ratio_text(fig.get("ratio")),
                ]
            )
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)) + " |"

    rule = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def main() -> int:
    names = [run.name for run in RUNS]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="about 2-3 minutes in all")
    parser.add_argument("--only", nargs="+", choices=names, metavar="NAME", help=", ".join(names))
    parser.add_argument("--output", type=Path, default=HERE / "results.json")
    parser.add_argument(
        "--database-prefix",
        default="rackpilot_bench_",
        help="the benchmark databases are named <prefix><benchmark>",
    )
    parser.add_argument("--verbose", action="store_true", help="print each script's own output")
    args = parser.parse_args()
    args.database_url = os.environ.get("DATABASE_URL") or DEFAULT_DATABASE_URL
    args.redis_url = os.environ.get("REDIS_URL") or DEFAULT_REDIS_URL
    if not args.database_url.startswith(("postgres://", "postgresql://")):
        parser.error(f"the benchmarks need PostgreSQL, not {args.database_url.split(':')[0]}")

    started = time.monotonic()
    results: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="rackpilot-bench-") as workdir:
        for run in RUNS:
            if args.only and run.name not in args.only:
                continue
            if run.optional and not (HERE / run.script).exists():
                print(f"{run.name}: skipped, benchmarks/{run.script} is not there", flush=True)
                reason = f"benchmarks/{run.script} is not there"
                results.append({"benchmark": run.name, "skipped": True, "reason": reason})
                continue
            results.append(run_one(run, args, Path(workdir)))

    info = machine()
    document: dict[str, Any] = {
        "machine": info,
        "mode": "quick" if args.quick else "full",
        "seconds": round(time.monotonic() - started, 1),
        "benchmarks": results,
    }
    args.output.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    print()
    print(
        f"{document['mode']} run, {document['seconds']:.0f} s, on {info['cores']} cores "
        f"({info['cpu_model']}), {info['memory_bytes'] / 2**30:.1f} GiB, "
        f"Python {info['python']}, {info['date']}"
    )
    print(table(results))
    print(f"written: {args.output}")
    failed = [result["benchmark"] for result in results if result.get("failed")]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())

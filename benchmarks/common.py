"""What the benchmark scripts share: a loopback port, percentiles, and the JSON they write.

Every script takes ``--json PATH`` (write its figures there, as well as printing them) and
``--quick`` (a few seconds per measurement, smaller fleets). The JSON is the interface
``benchmarks/bench.py`` reads::

    {"benchmark": "netboot", "command": "...", "notes": ["..."],
     "figures": [{"name": ..., "value": ..., "unit": ..., "goal": "≤ 100 ms" | null,
                  "met": true | false | null,
                  "reference": {"name": ..., "value": ..., "unit": ...} | null,
                  "ratio": value / reference value | null}]}
"""

from __future__ import annotations

import argparse
import json
import math
import shlex
import signal
import socket
import subprocess
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

Figure = dict[str, Any]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def stop_process(process: subprocess.Popen[Any] | None, timeout: float = 15) -> None:
    """SIGTERM, then SIGKILL if it has not ended within ``timeout`` seconds."""
    if process is None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile (``fraction`` 0.99 for p99) of unsorted ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(fraction * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


def reference(name: str, value: float, unit: str) -> dict[str, Any]:
    """A figure measured in the same run to set another against."""
    return {"name": name, "value": float(value), "unit": unit}


def figure(
    name: str,
    value: float,
    unit: str,
    *,
    goal: str | None = None,
    met: bool | None = None,
    reference: dict[str, Any] | None = None,
) -> Figure:
    """One figure; its ratio is ``value / reference value`` when there is a reference."""
    ratio = None
    if reference is not None and reference["value"]:
        ratio = float(value) / reference["value"]
    return {
        "name": name,
        "value": float(value),
        "unit": unit,
        "goal": goal,
        "met": met if goal is not None else None,
        "reference": reference,
        "ratio": ratio,
    }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", type=Path, metavar="PATH", help="also write the figures here")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a few seconds per measurement and smaller fleets (figures are rougher)",
    )


def fill_defaults(args: argparse.Namespace, *, full: dict[str, Any], quick: dict[str, Any]) -> None:
    """Options left unset (None) take their ``--quick`` or full value."""
    for name, value in (quick if args.quick else full).items():
        if getattr(args, name) is None:
            setattr(args, name, value)


def command_line() -> str:
    return shlex.join([sys.executable, *sys.argv])


def write_json(
    path: Path | None, benchmark: str, figures: Iterable[Figure], notes: Iterable[str] = ()
) -> None:
    if path is None:
        return
    document = {
        "benchmark": benchmark,
        "command": command_line(),
        "figures": list(figures),
        "notes": list(notes),
    }
    path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n")

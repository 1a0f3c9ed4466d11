"""``make bench``'s runner end to end on its cheapest benchmark: the API list over a small
fleet, in quick mode, against the test database's server. The figures' values are not checked
(timings belong to benchmarks/, never to tests); their shape and their references are."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
FIGURE_KEYS = {"name", "value", "unit", "goal", "met", "reference", "ratio"}


def test_quick_bench_writes_figures_with_goals_and_references(tmp_path: Path) -> None:
    # given the machine's PostgreSQL and Redis, as the test suite uses them
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")) or not os.environ.get(
        "REDIS_URL"
    ):
        pytest.skip("the benchmarks run on PostgreSQL and Redis")
    output = tmp_path / "results.json"

    # when the runner runs one benchmark in quick mode
    done = subprocess.run(
        [
            sys.executable,
            str(ROOT / "benchmarks" / "bench.py"),
            "--quick",
            "--only",
            "cockpit-api",
            "--output",
            str(output),
            # Not the databases a `make bench` on the same server may be using.
            "--database-prefix",
            "rackpilot_benchtest_",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )

    # then it succeeded, wrote the machine and the benchmark, and printed the table
    assert done.returncode == 0, done.stdout + done.stderr
    document = json.loads(output.read_text())
    assert document["mode"] == "quick"
    assert document["machine"]["cores"] == os.cpu_count()
    assert {"memory_bytes", "cpu_model", "python", "date"} <= document["machine"].keys()
    [result] = document["benchmarks"]
    assert result["benchmark"] == "cockpit-api"
    assert not result["failed"]
    assert "cockpit.py" in result["command"]
    assert all(isinstance(note, str) for note in result["notes"])
    figures = {figure["name"]: figure for figure in result["figures"]}
    for figure in figures.values():
        assert set(figure) == FIGURE_KEYS
        assert isinstance(figure["value"], float)
        assert (figure["goal"] is None) == (figure["met"] is None)
        if figure["reference"] is not None:
            assert set(figure["reference"]) == {"name", "value", "unit"}
            assert figure["ratio"] == pytest.approx(figure["value"] / figure["reference"]["value"])
    # the API list's p95 has its goal, and its query count is set against the small fleet's
    p95 = figures["API machine list, page 20, 2,000 machines: p95"]
    assert p95["goal"] == "≤ 50 ms"
    assert p95["reference"]["name"].startswith("/healthz")
    queries = figures["API machine list, page 20: SQL queries at 2,000 machines"]
    assert queries["reference"]["unit"] == "queries"
    assert queries["met"] is True
    assert "API machine list, page 20" in done.stdout

"""The netboot benchmark's servers and load: the server under test, nginx, wrk, /proc readings.

``start_server`` starts the server under test (``rackpilot.webserver.web_command``) and
``stop`` ends it; ``nginx_start`` starts the reference (one worker, sendfile); ``wrk`` runs one
load and reads back the figures its ``done()`` hook prints, ``measure`` a warm-up and a measured
run; ``server_rss`` and ``peak_worker_rss_mib`` read the server's memory from /proc;
``ConnectionWatch`` counts the PostgreSQL connections the server holds.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, NoReturn

ROOT = Path(__file__).resolve().parent.parent

# wrk's done() hook prints one JSON line with the aggregated figures of all threads.
WRK_DONE = r"""
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('WRK {"requests": %.0f, "bytes": %.0f, "duration_us": %.0f, '
    .. '"connect": %.0f, "read": %.0f, "write": %.0f, "status": %.0f, "timeout": %.0f, '
    .. '"p50_us": %.0f, "p99_us": %.0f}\n', summary.requests, summary.bytes,
    summary.duration, e.connect, e.read, e.write, e.status, e.timeout,
    latency:percentile(50), latency:percentile(99)))
end
"""
# Each wrk thread has its own Lua state: seed each one differently.
WRK_RANDOM_MAC = r"""
local counter = 0
setup = function(thread) counter = counter + 1; thread:set("id", counter) end
init = function(args) math.randomseed(os.time() * 1000 + id) end
request = function()
  return wrk.format("GET", "/ipxe/" .. macs[math.random(#macs)] .. "/auto.ipxe")
end
"""


def _wait_http(url: str, what: str, log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            urllib.request.urlopen(url, timeout=1)
            return
        except OSError:
            if time.monotonic() > deadline:
                fail(f"{what} did not start", log)
            time.sleep(0.2)


def print_tail(log: Path) -> None:
    if log.exists():
        tail = log.read_text(errors="replace").splitlines()[-40:]
        print(f"--- last lines of {log} ---", *tail, sep="\n", file=sys.stderr)


def fail(message: str, log: Path) -> NoReturn:
    print_tail(log)
    raise SystemExit(f"FAILED: {message}")


class ConnectionWatch(threading.Thread):
    """Polls how many PostgreSQL connections other processes hold on the benchmark database."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.peak = 0
        self.limit = "?"
        self.stop = threading.Event()

    def run(self) -> None:
        import psycopg
        from django.db import connection

        params = connection.get_connection_params()
        params.pop("cursor_factory", None)
        params.pop("context", None)
        with psycopg.connect(**params, autocommit=True) as conn:
            self.limit = str(conn.execute("SHOW max_connections").fetchone()[0])  # type: ignore[index]
            while not self.stop.wait(0.2):
                row = conn.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                ).fetchone()
                self.peak = max(self.peak, row[0] if row else 0)


def nginx_start(
    workdir: Path,
    port: int,
    script_size: int,
    artifact: Path,
    front: tuple[int, int, Path] | None = None,
) -> subprocess.Popen[bytes]:
    """nginx serving the reference files on ``port``; with ``front`` (its port, Rackpilot's
    port, the artifacts folder) also in front of Rackpilot as docs/nginx-rackpilot.conf is:
    proxied, and the artifacts Rackpilot hands over with X-Accel-Redirect sent from disk."""
    front_block = ""
    if front is not None:
        front_port, upstream_port, artifacts_dir = front
        front_block = f"""
    upstream rackpilot {{ server 127.0.0.1:{upstream_port}; keepalive 64; }}
    server {{
        listen 127.0.0.1:{front_port};
        location /_artifacts/ {{ internal; alias {artifacts_dir}/; }}
        location / {{
            proxy_pass http://rackpilot;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
        }}
    }}"""
    (workdir / "nginx" / "www").mkdir(parents=True)
    (workdir / "nginx" / "www" / "script.ipxe").write_bytes(b"#" * script_size)
    user = "user root;" if os.geteuid() == 0 else ""  # workers must read the tmp files
    conf = workdir / "nginx" / "nginx.conf"
    conf.write_text(
        f"""{user}
daemon off;
worker_processes 1;
pid {workdir}/nginx/nginx.pid;
error_log {workdir}/nginx/error.log warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    default_type application/octet-stream;
    client_body_temp_path {workdir}/nginx/body;
    proxy_temp_path {workdir}/nginx/proxy;
    server {{
        listen 127.0.0.1:{port};
        location = /script.ipxe {{ root {workdir}/nginx/www; }}
        location = /initramfs {{ alias {artifact}; }}
    }}{front_block}
}}
"""
    )
    process = subprocess.Popen(
        [
            "nginx",
            "-p",
            str(workdir / "nginx"),
            "-e",
            str(workdir / "nginx" / "error.log"),
            "-c",
            str(conf),
        ],
        stdout=subprocess.DEVNULL,
        stderr=open(workdir / "nginx" / "stderr.log", "w"),  # noqa: SIM115
    )
    _wait_http(f"http://127.0.0.1:{port}/script.ipxe", "nginx", workdir / "nginx" / "stderr.log")
    return process


def wrk(
    url: str, lua: str, *, connections: int, seconds: float, timeout: float, log: Path
) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(lua + WRK_DONE)
    command = [
        "wrk", "-t2", f"-c{connections}", f"-d{seconds:g}s", f"--timeout={timeout}s",
        "--latency", "-s", script.name, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    os.unlink(script.name)
    lines = [line for line in done.stdout.splitlines() if line.startswith("WRK ")]
    if done.returncode != 0 or not lines:
        print(done.stdout, done.stderr, sep="\n", file=sys.stderr)
        fail(f"wrk against {url} failed", log)
    result: dict[str, Any] = json.loads(lines[-1][4:])
    errors = {k: result[k] for k in ("connect", "read", "write", "timeout", "status") if result[k]}
    if errors:
        print(done.stdout, file=sys.stderr)
        fail(f"{url}: errors during the run (status = non-2xx/3xx responses): {errors}", log)
    result["seconds"] = result["duration_us"] / 1e6
    result["rps"] = result["requests"] / result["seconds"]
    result["mib_s"] = result["bytes"] / result["seconds"] / 2**20
    return result


def measure(
    url: str, lua: str, args: argparse.Namespace, *, seconds: float, warmup: float, log: Path
) -> dict[str, Any]:
    """An optional warm-up run, then the measured one (which gets the warm-up's count)."""
    options = {"connections": args.connections, "timeout": 600, "log": log}
    warm = wrk(url, lua, seconds=warmup, **options) if warmup else {"requests": 0}
    result = wrk(url, lua, seconds=seconds, **options)
    result["warmup_requests"] = warm["requests"]
    return result


def _vm_fields(pid: int) -> dict[str, int]:
    status = Path(f"/proc/{pid}/status").read_text().splitlines()
    return {line.split(":")[0]: int(line.split()[1]) for line in status if line.startswith("Vm")}


def server_pids(pid: int) -> list[int]:
    """The server's processes: the one started and its workers (uvicorn forks them)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    return [pid, *(int(child) for child in children.read_text().split())]


def server_rss(pid: int) -> str:
    return "; ".join(
        f"pid {each}: RSS {fields['VmRSS'] / 1024:,.0f} MiB, peak {fields['VmHWM'] / 1024:,.0f} MiB"
        for each in server_pids(pid)
        for fields in (_vm_fields(each),)
    )


def peak_worker_rss_mib(pid: int, workers: int) -> float:
    """The largest peak RSS of a process serving requests (uvicorn's supervisor serves none)."""
    pids = server_pids(pid)
    serving = pids[1:] if workers > 1 and len(pids) > 1 else pids
    return max(_vm_fields(each)["VmHWM"] for each in serving) / 1024


def start_server(
    args: argparse.Namespace,
    port: int,
    workers: int,
    log: Path,
    extra_env: dict[str, str] | None = None,
) -> Any:
    from rackpilot.webserver import web_command

    server_env = {**os.environ, "LOG_LEVEL": "WARNING", **(extra_env or {})}
    if args.db_conn_max_age is not None:
        # Persistent connections replace the pool (the two cannot be combined).
        server_env["DB_POOL_MAX_SIZE"] = "0"
        server_env["DB_CONN_MAX_AGE"] = args.db_conn_max_age
    # The child has its own copy of the descriptor: this one can close.
    with open(log, "a") as stderr:
        return subprocess.Popen(
            web_command(server=args.server, port=port, workers=workers),
            cwd=ROOT,
            env=server_env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )

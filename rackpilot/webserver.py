"""The web tier's command line: N ASGI worker processes on one port.

``python -m rackpilot.webserver`` replaces itself with the server ``WEB_SERVER`` names
(``uvicorn`` by default), ``WEB_CONCURRENCY`` worker processes (default: one per core) on
``HOST``:``PORT``. ``make run``, the Dockerfile and docker-compose.yml all start the web tier
this way, and the benchmarks measure the same command lines.

Why uvicorn (benchmarks/README.md has the figures): it runs several worker processes on one
listening socket, so Channels groups (Redis layer) are the only thing the processes share; it
caps an incoming WebSocket message (``--ws-max-size``) as daphne did, which bounds what one agent
socket can make a process buffer — granian has no such limit; daphne runs one process per port.
The server never rewrites the client address from proxy headers itself: that is the
application's job, from ``TRUSTED_PROXIES`` only (rackpilot/core/proxies.py).
"""

from __future__ import annotations

import os
import sys

APPLICATION = "rackpilot.asgi:application"
SERVERS = ("uvicorn", "daphne")


class WebServerError(ValueError):
    pass


def default_concurrency() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def web_command(
    *,
    server: str = "uvicorn",
    host: str = "127.0.0.1",
    port: int = 8000,
    workers: int = 1,
    max_frame_bytes: int = 1 << 20,
    python: str = sys.executable,
) -> list[str]:
    """The argv that serves Rackpilot with ``server``."""
    if workers < 1:
        raise WebServerError(f"WEB_CONCURRENCY must be at least 1, not {workers}")
    if server == "uvicorn":
        return [
            python,
            "-m",
            "uvicorn",
            APPLICATION,
            "--host",
            host,
            "--port",
            str(port),
            "--workers",
            str(workers),
            "--ws-max-size",
            str(max_frame_bytes),
            # Agents' messages are a few hundred bytes of JSON on the provisioning network:
            # compressing each (both ends) cost a tenth of a state report's CPU for nothing.
            "--ws-per-message-deflate",
            "false",
            "--lifespan",
            "off",
            "--no-access-log",
            # Client addresses come from TRUSTED_PROXIES in the application, never from a
            # header the server believes on its own (uvicorn trusts 127.0.0.1 by default).
            "--no-proxy-headers",
            "--no-server-header",
            "--timeout-graceful-shutdown",
            "10",
        ]
    if server == "daphne":
        if workers != 1:
            raise WebServerError("daphne runs one process per port: set WEB_CONCURRENCY=1")
        return [
            python,
            "-m",
            "daphne",
            "-b",
            host,
            "-p",
            str(port),
            "--websocket-max-message-size",
            str(max_frame_bytes),
            "--websocket-max-frame-size",
            str(max_frame_bytes),
            APPLICATION,
        ]
    raise WebServerError(f"WEB_SERVER must be one of {', '.join(SERVERS)}, not {server!r}")


def command_from_environment(environ: dict[str, str] | None = None) -> list[str]:
    """The command ``WEB_SERVER``, ``WEB_CONCURRENCY``, ``HOST``, ``PORT`` and
    ``AGENT_MAX_FRAME_BYTES`` describe."""
    env = os.environ if environ is None else environ
    try:
        workers = int(env.get("WEB_CONCURRENCY") or default_concurrency())
        port = int(env.get("PORT") or 8000)
        max_frame = int(env.get("AGENT_MAX_FRAME_BYTES") or 1 << 20)
    except ValueError as exc:
        raise WebServerError(f"WEB_CONCURRENCY, PORT and AGENT_MAX_FRAME_BYTES: {exc}") from exc
    return web_command(
        server=env.get("WEB_SERVER") or "uvicorn",
        host=env.get("HOST") or "127.0.0.1",
        port=port,
        workers=workers,
        max_frame_bytes=max_frame,
    )


def main() -> None:
    try:
        command = command_from_environment()
    except WebServerError as exc:
        raise SystemExit(f"rackpilot.webserver: {exc}") from exc
    metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if metrics_dir:
        # The workers about to start count into it: what an earlier run left must not add up.
        from rackpilot.core.metrics import prepare_multiprocess_dir

        prepare_multiprocess_dir(metrics_dir)
    os.execv(command[0], command)


if __name__ == "__main__":
    main()

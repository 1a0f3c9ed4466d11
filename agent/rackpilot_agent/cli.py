"""``rackpilot-agent``: load the settings, run the agent, map failures to exit codes."""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence

from rackpilot_agent.agent import Agent
from rackpilot_agent.config import ConfigError, Settings, load_settings
from rackpilot_agent.connection import AuthenticationFailed, FatalConfigError
from rackpilot_agent.status import show as show_status

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_AUTH = 3
EXIT_REFUSED = 4
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


async def _run(settings: Settings) -> int:
    agent = Agent(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, agent.stop)
    return await agent.run()


def log_to_console(device: str) -> logging.Handler | None:
    """Copy the log to ``device`` too; one that cannot be opened only costs a warning."""
    try:
        # O_NOCTTY: were the console to become the agent's controlling terminal, a Ctrl-C
        # typed there (or the serial line hanging up) would stop the agent.
        fd = os.open(device, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        logging.getLogger("rackpilot_agent").warning(
            "cannot write the log to the console %s: %s", device, exc
        )
        return None
    handler = logging.StreamHandler(
        os.fdopen(fd, "a", buffering=1, encoding="utf-8", errors="replace")
    )
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def main(argv: Sequence[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["status"]:
        return show_status(args[1:])
    try:
        settings = load_settings(argv)
    except ConfigError as exc:
        print(f"rackpilot-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format=LOG_FORMAT,
        stream=sys.stderr,
    )
    if settings.console:
        log_to_console(settings.console)
    try:
        return asyncio.run(_run(settings))
    except AuthenticationFailed as exc:
        logging.getLogger("rackpilot_agent").critical("%s", exc)
        return EXIT_AUTH
    except FatalConfigError as exc:
        logging.getLogger("rackpilot_agent").critical("%s", exc)
        return EXIT_REFUSED

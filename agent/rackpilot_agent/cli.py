"""``rackpilot-agent``: load the settings, run the agent, map failures to exit codes."""

from __future__ import annotations

import asyncio
import logging
import signal
import sys
from collections.abc import Sequence

from rackpilot_agent.agent import Agent
from rackpilot_agent.config import ConfigError, Settings, load_settings
from rackpilot_agent.connection import AuthenticationFailed, FatalConfigError

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_AUTH = 3
EXIT_REFUSED = 4


async def _run(settings: Settings) -> int:
    agent = Agent(settings)
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, agent.stop)
    return await agent.run()


def main(argv: Sequence[str] | None = None) -> int:
    try:
        settings = load_settings(argv)
    except ConfigError as exc:
        print(f"rackpilot-agent: {exc}", file=sys.stderr)
        return EXIT_CONFIG
    logging.basicConfig(
        level=getattr(logging, settings.log_level.upper(), logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return asyncio.run(_run(settings))
    except AuthenticationFailed as exc:
        logging.getLogger("rackpilot_agent").critical("%s", exc)
        return EXIT_AUTH
    except FatalConfigError as exc:
        logging.getLogger("rackpilot_agent").critical("%s", exc)
        return EXIT_REFUSED

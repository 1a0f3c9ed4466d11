"""``manage.py tinkerbell_syslog``: receive the syslog of stock HookOS machines (UDP and TCP).

HookOS's dockerd sends each action container's output to ``syslog_host`` (a kernel argument
netboot writes) on port 514. Listens on TINKERBELL_SYSLOG_BIND (``0.0.0.0:514`` unless set;
``--bind`` overrides it) and stores each message as a log line of the sender's running action.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tinkerbell.syslog.server import SyslogServer


class Command(BaseCommand):
    help = "Receive syslog (RFC 3164 and 5424, UDP and TCP) from Hook and store it as action logs."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help="host:port (default: TINKERBELL_SYSLOG_BIND)")

    def handle(self, *args: Any, **options: Any) -> None:
        bind = options["bind"] or settings.TINKERBELL_SYSLOG_BIND
        host, _, port = bind.rpartition(":")
        if not host or not port.isdigit():
            raise CommandError(f"TINKERBELL_SYSLOG_BIND={bind}: expected host:port")
        try:
            asyncio.run(self._serve(host.strip("[]"), int(port)))
        except OSError as error:
            raise CommandError(f"TINKERBELL_SYSLOG_BIND={bind}: {error}") from None

    async def _serve(self, host: str, port: int) -> None:
        server = SyslogServer()
        udp_port, tcp_port = await server.start(host, port)
        self.stdout.write(f"syslog intake on {host}: udp {udp_port}, tcp {tcp_port}")
        self.stdout.flush()
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        await stop.wait()
        await server.close()

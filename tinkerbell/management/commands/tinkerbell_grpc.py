"""``manage.py tinkerbell_grpc``: serve Tinkerbell's WorkflowService to stock tink-agents.

Listens on TINKERBELL_GRPC_BIND (``0.0.0.0:42113`` unless set; ``--bind`` overrides it), with
TLS when TINKERBELL_GRPC_TLS_CERT and TINKERBELL_GRPC_TLS_KEY name a certificate chain and its
key. Runs until SIGINT or SIGTERM, letting RPCs in flight finish.
"""

from __future__ import annotations

import signal
import threading
from types import FrameType
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from tinkerbell.agent_grpc.server import ServerConfigError, build_server

GRACE_SECONDS = 5


class Command(BaseCommand):
    help = "Serve Tinkerbell's gRPC WorkflowService (GetAction, ReportActionStatus)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--bind", help="host:port (default: TINKERBELL_GRPC_BIND)")
        parser.add_argument("--threads", type=int, default=settings.TINKERBELL_GRPC_THREADS)

    def handle(self, *args: Any, **options: Any) -> None:
        bind = options["bind"] or settings.TINKERBELL_GRPC_BIND
        try:
            server, port = build_server(bind, threads=options["threads"])
        except ServerConfigError as error:
            raise CommandError(str(error)) from None
        stop = threading.Event()

        def request_stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        server.start()
        host = bind.rsplit(":", 1)[0]
        tls = " (TLS)" if settings.TINKERBELL_GRPC_TLS_CERT else ""
        self.stdout.write(f"Tinkerbell gRPC WorkflowService on {host}:{port}{tls}")
        self.stdout.flush()
        # Short waits: the signal handler runs between them even if a wait cannot be interrupted.
        while not stop.wait(0.5):
            pass
        server.stop(GRACE_SECONDS).wait(GRACE_SECONDS + 1)

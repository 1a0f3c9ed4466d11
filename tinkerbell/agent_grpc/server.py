"""The gRPC server tink-agent dials (``grpc_authority=`` on Hook's kernel command line)."""

from __future__ import annotations

from concurrent import futures
from pathlib import Path

import grpc
from django.conf import settings

from tinkerbell.agent_grpc import workflow_pb2_grpc as pb_grpc
from tinkerbell.agent_grpc.service import WorkflowService


class ServerConfigError(Exception):
    """The server cannot start as configured; the message names the setting."""


def _credentials() -> grpc.ServerCredentials | None:
    cert, key = settings.TINKERBELL_GRPC_TLS_CERT, settings.TINKERBELL_GRPC_TLS_KEY
    if not cert and not key:
        return None
    if not (cert and key):
        raise ServerConfigError(
            "TINKERBELL_GRPC_TLS_CERT and TINKERBELL_GRPC_TLS_KEY go together: set both or neither"
        )
    try:
        chain, private = Path(cert).read_bytes(), Path(key).read_bytes()
    except OSError as error:
        raise ServerConfigError(f"TINKERBELL_GRPC_TLS_*: {error}") from None
    return grpc.ssl_server_credentials([(private, chain)])


def build_server(bind: str, *, threads: int) -> tuple[grpc.Server, int]:
    """The server with the WorkflowService on ``bind`` (``host:port``; port 0 picks one), not
    yet started; returns it and the port it got."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=threads))
    pb_grpc.add_WorkflowServiceServicer_to_server(WorkflowService(), server)
    credentials = _credentials()
    try:
        if credentials is None:
            port = server.add_insecure_port(bind)
        else:
            port = server.add_secure_port(bind, credentials)
    except RuntimeError as error:
        raise ServerConfigError(f"TINKERBELL_GRPC_BIND={bind}: {error}") from None
    if not port:
        raise ServerConfigError(f"TINKERBELL_GRPC_BIND={bind}: cannot listen there")
    return server, port

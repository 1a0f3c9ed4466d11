"""The tinkerbell app's servers (``tinkerbell_grpc``, ``tinkerbell_syslog``) as their own
processes on the test database and channel-layer prefix, and a gRPC client."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.live_server import free_port, server_environment
from tinkerbell.agent_grpc import workflow_pb2_grpc as pb_grpc

ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0


class CommandProcess:
    """``manage.py <command> --bind 127.0.0.1:<port>``, ready once it prints ``ready``."""

    def __init__(self, command: str, *, ready: str) -> None:
        self.command, self.ready = command, ready
        self.port = free_port()
        self.env = server_environment()
        self.process: subprocess.Popen[bytes] | None = None
        self._log = tempfile.NamedTemporaryFile(prefix=f"{command}-", suffix=".log")  # noqa: SIM115

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def output(self) -> str:
        self._log.flush()
        return Path(self._log.name).read_text(errors="replace")[-20_000:]

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", self.command, "--bind", self.address],
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + START_TIMEOUT
        starts = self.output().count(self.ready)
        while self.output().count(self.ready) == starts:
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"{self.command} did not start:\n" + self.output())
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=15)
            raise RuntimeError(f"{self.command} ignored SIGTERM:\n{self.output()}") from None

    def kill(self) -> None:
        """Gone without a goodbye, as a crashed server is."""
        self.stop(signal.SIGKILL)

    def close(self) -> None:
        self.stop()
        self._log.close()


@pytest.fixture
def grpc_server(transactional_db: None) -> Iterator[CommandProcess]:
    server = CommandProcess("tinkerbell_grpc", ready="WorkflowService on")
    server.start()
    try:
        yield server
    finally:
        server.close()


@pytest.fixture
def workflow_stub(grpc_server: CommandProcess) -> Iterator[pb_grpc.WorkflowServiceStub]:
    channel = grpc.insecure_channel(grpc_server.address)
    try:
        yield pb_grpc.WorkflowServiceStub(channel)
    finally:
        channel.close()


@pytest.fixture
def syslog_server(transactional_db: None) -> Iterator[CommandProcess]:
    server = CommandProcess("tinkerbell_syslog", ready="syslog intake on")
    server.start()
    try:
        yield server
    finally:
        server.close()

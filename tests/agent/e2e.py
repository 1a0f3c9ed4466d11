"""Shared pieces of the end-to-end tests: a provisioned-looking machine, a real agent process,
and a browser-side WebSocket client that records every frame it receives."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory, UserFactory
from tests.live_server import AsgiLiveServer, signed_in_headers
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, LogLine, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

SYSTEM = Actor.system("e2e")
MAC = "52:54:00:e2:e0:01"


def machine_with_disk(hostname: str = "e2e-node", mac: str = MAC) -> Machine:
    machine = MachineFactory(hostname=hostname)
    NetworkInterfaceFactory(machine=machine, mac=mac, is_boot=True)
    DiskFactory(machine=machine, device="/dev/vda")
    return machine


def action_yaml(name: str, image: str, timeout: int, env: dict[str, str], extra: str = "") -> str:
    lines = [
        f'      - name: "{name}"',
        f"        image: {image}",
        f"        timeout: {timeout}",
        "        environment:",
        *[f'          {key}: "{value}"' for key, value in env.items()],
    ]
    return "\n".join(lines) + ("\n" + extra if extra else "") + "\n"


def start_workflow(
    machine: Machine, name: str, actions: str, global_timeout: int = 300
) -> Workflow:
    body = (
        f'version: "0.1"\nname: {name}\nglobal_timeout: {global_timeout}\ntasks:\n'
        '  - name: "provision"\n    worker: "{{ .device_1 }}"\n    actions:\n' + actions
    )
    template = template_services.template_create(actor=SYSTEM, name=name, body=body)
    return workflow_create(template=template, machine=machine, actor=SYSTEM)


@dataclass
class AgentProcess:
    """The agent for ``machine`` with a token of its own; or, for a machine the inventory does
    not know yet, with a given (discovery) ``token`` and ``worker_id``."""

    server: AsgiLiveServer
    machine: Machine | None
    docker_host: str
    state_dir: Path
    process: subprocess.Popen[bytes] | None = None
    token: str = ""
    worker_id: str = ""
    log_path: Path = field(init=False)

    def __post_init__(self) -> None:
        self.log_path = self.state_dir / "agent.log"
        if self.machine is not None:
            _, self.token = agent_token_issue(machine=self.machine, actor=SYSTEM)
            self.worker_id = self.machine.interfaces.get(is_boot=True).mac

    def start(self) -> None:
        command = [
            sys.executable,
            "-m",
            "rackpilot_agent",
            "--url",
            self.server.url,
            "--token",
            self.token,
            "--worker-id",
            self.worker_id,
            "--docker-host",
            self.docker_host,
            "--state-dir",
            str(self.state_dir),
            "--network-mode",
            "none",
            "--stop-grace",
            "2",
            "--backoff-max",
            "2",
            "--once",
            "--log-level",
            "debug",
        ]
        log = open(self.log_path, "ab")  # noqa: SIM115 (owned by the process)
        self.process = subprocess.Popen(command, stdout=log, stderr=log, env={**os.environ})

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=10)

    def wait(self, timeout: float) -> int:
        assert self.process is not None
        try:
            return self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise AssertionError(
                f"agent still running after {timeout} s:\n{self.output()}"
            ) from None

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def output(self) -> str:
        return self.log_path.read_text(errors="replace")[-20_000:]


class BrowserClient:
    """``/ws/workflows/<id>/`` as a browser uses it, recording (receive time, frame)."""

    def __init__(self, server: AsgiLiveServer, workflow: Workflow):
        user = UserFactory(permissions=["workflows.view_workflow"])
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self._socket = connect(
            f"{server.ws_url}/ws/workflows/{workflow.pk}/",
            additional_headers=signed_in_headers(server, user),
            open_timeout=10,
            max_size=None,
        )
        self._socket.send(json.dumps({"type": "subscribe"}))
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for message in self._socket:
                self.frames.append((time.monotonic(), json.loads(message)))
        except Exception:  # the socket closes when the test ends or the server goes away
            return

    def close(self) -> None:
        self._socket.close()
        self._thread.join(timeout=5)

    def lines(self, action_id: int) -> list[dict[str, Any]]:
        """Distinct lines of the action received so far, by seq (duplicates dropped as the
        page drops them)."""
        by_seq: dict[int, dict[str, Any]] = {}
        for _, frame in list(self.frames):
            if frame.get("type") == "lines" and frame["action"] == action_id:
                for line in frame["lines"]:
                    by_seq.setdefault(line["seq"], line)
        return [by_seq[seq] for seq in sorted(by_seq)]

    def first_line_time(self, action_id: int) -> float | None:
        for received, frame in list(self.frames):
            if frame.get("type") == "lines" and frame["action"] == action_id:
                return received
        return None

    def state_time(self, action_id: int, state: str) -> float | None:
        for received, frame in list(self.frames):
            action = frame.get("action") if frame.get("type") == "state" else None
            if isinstance(action, dict) and action["id"] == action_id and action["state"] == state:
                return received
        return None


def stored_lines(action: Action) -> list[tuple[int, str, str]]:
    return list(
        LogLine.objects.filter(action=action, attempt=action.attempt)
        .order_by("seq")
        .values_list("seq", "stream", "text")
    )


def actions_of(workflow: Workflow) -> list[Action]:
    return list(Action.objects.filter(task__workflow=workflow).order_by("order"))


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")

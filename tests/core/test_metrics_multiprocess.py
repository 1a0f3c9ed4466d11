"""``/metrics`` with several web processes sharing one PROMETHEUS_MULTIPROC_DIR: two real daphne
servers count requests, agent sockets and log lines, and either one's scrape shows the sum."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from builds.models import Build
from rackpilot.core.actors import Actor
from rackpilot.core.metrics import mark_process_dead, prepare_multiprocess_dir
from tests.live_server import AsgiLiveServer, server_environment
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

pytestmark = pytest.mark.django_db(transaction=True)
SYSTEM = Actor.system("tests")


@pytest.fixture
def two_servers(tmp_path: Path) -> Iterator[tuple[AsgiLiveServer, AsgiLiveServer]]:
    directory = tmp_path / "prometheus"
    (directory / "stale").mkdir(parents=True)
    (directory / "counter_1.db").write_bytes(b"left by an earlier run")
    prepare_multiprocess_dir(directory)
    assert list(directory.iterdir()) == []
    env = server_environment() | {"PROMETHEUS_MULTIPROC_DIR": str(directory)}
    servers = (AsgiLiveServer(env), AsgiLiveServer(env))
    try:
        for server in servers:
            server.start()
        yield servers
    finally:
        for server in servers:
            server.close()


def scrape(server: AsgiLiveServer) -> str:
    response = requests.get(server.url + "/metrics", timeout=10)
    assert response.status_code == 200
    return response.text


def value(text: str, name: str, **labels: str) -> float:
    """The sum of the samples of ``name`` whose labels include ``labels`` (0 if none)."""
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{re.escape(name)}(?:\{{(.*)\}})? (\S+)", line)
        if not match:
            continue
        found = dict(re.findall(r'(\w+)="([^"]*)"', match.group(1) or ""))
        if all(found.get(key) == wanted for key, wanted in labels.items()):
            total += float(match.group(2))
    return total


def eventually(read: Callable[[], float], expected: float, *, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while (current := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert current == expected


def healthz_count(server: AsgiLiveServer) -> float:
    return value(scrape(server), "rackpilot_http_requests_total", view="healthz")


def test_request_counters_of_both_processes_add_up(two_servers):
    first, second = two_servers
    # Both servers answered /healthz while starting; each scrape already sees both.
    before = healthz_count(first)
    assert before == healthz_count(second)
    assert before >= 2

    for _ in range(3):
        requests.get(first.url + "/healthz", timeout=10)
    for _ in range(4):
        requests.get(second.url + "/healthz", timeout=10)

    assert healthz_count(first) == before + 7
    assert healthz_count(second) == before + 7


def test_database_figures_are_read_once_not_summed_per_process(two_servers):
    first, second = two_servers
    for state in ("success", "success", "failed"):
        Build.objects.create(arch="x86_64", state=state)
    success = Build.objects.filter(state="success").count()
    failed = Build.objects.filter(state="failed").count()
    assert success >= 2 and failed >= 1

    for server in (first, second):
        text = scrape(server)
        assert value(text, "rackpilot_builds", state="success") == success
        assert value(text, "rackpilot_builds", state="failed") == failed
        assert value(text, "rackpilot_power_jobs", state="queued") == 0
        assert value(text, "rackpilot_actions_running") == 0


def _agent(
    sockets: ExitStack, server: AsgiLiveServer, hostname: str, mac: str
) -> tuple[ClientConnection, Any]:
    machine = make_machine(hostname, mac)
    _, raw = agent_token_issue(machine=machine, actor=SYSTEM)
    ws = sockets.enter_context(
        connect(
            server.ws_url + "/ws/agent/",
            additional_headers={"Authorization": f"Bearer {raw}"},
            open_timeout=5,
        )
    )
    ws.send(json.dumps({"id": 1, "type": "hello", "worker_id": mac, "hardware": {}}))
    assert json.loads(ws.recv(timeout=10))["type"] == "welcome"
    return ws, machine


def _request(ws: ClientConnection, message: dict[str, Any]) -> dict[str, Any]:
    ws.send(json.dumps(message))
    while True:
        reply: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if reply.get("reply_to") == message["id"]:
            return reply


def test_agents_actions_and_log_lines_across_processes(two_servers):
    with ExitStack() as sockets:
        _agents_actions_and_log_lines(sockets, *two_servers)


def _agents_actions_and_log_lines(
    sockets: ExitStack, first: AsgiLiveServer, second: AsgiLiveServer
) -> None:
    connected = lambda: value(scrape(first), "rackpilot_agents_connected")  # noqa: E731

    ws_first, machine = _agent(sockets, first, "mp-01", "52:54:00:7e:00:01")
    template = template_services.template_create(actor=SYSTEM, name="mp", body=TWO_ACTIONS)
    workflow_create(template=template, machine=machine, actor=SYSTEM)
    action = _request(ws_first, {"id": 2, "type": "next_action"})["action"]["action"]
    ref = {"action": action, "attempt": 1}
    assert _request(ws_first, {"id": 3, "type": "action_state", "state": "running", **ref})
    lines = [{"stream": "stdout", "text": f"line {n}"} for n in range(3)]
    logs = _request(ws_first, {"id": 4, "type": "logs", "first_seq": 1, "lines": lines, **ref})
    assert logs["acked_seq"] == 3
    # A resend after a reconnect is acknowledged, not stored (nor counted) twice.
    _request(ws_first, {"id": 5, "type": "logs", "first_seq": 1, "lines": lines, **ref})

    ws_second, _ = _agent(sockets, second, "mp-02", "52:54:00:7e:00:02")

    text = scrape(second)
    assert value(text, "rackpilot_agents_connected") == 2
    assert value(text, "rackpilot_actions_running") == 1
    assert value(text, "rackpilot_log_lines_received_total") == 3

    ws_first.close()
    eventually(connected, 1)

    # A process that dies leaves its live gauge behind until it is marked dead.
    assert second.process is not None
    pid = second.process.pid
    second.kill()
    ws_second.close()
    assert connected() == 1
    mark_process_dead(pid, first.env["PROMETHEUS_MULTIPROC_DIR"])
    assert connected() == 0
    # Counters of the dead process stay: totals never go backwards.
    assert value(scrape(first), "rackpilot_log_lines_received_total") == 3

"""Stock HookOS's part, played by a tink-agent stand-in: a three-action workflow through the
gRPC server and the syslog intake (their own processes), containers in podman, and a restart
of the gRPC server while an action runs."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from rackpilot.core.actors import Actor
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from tests.tinkerbell.processes import CommandProcess, grpc_server, syslog_server
from tests.tinkerbell.tink_agent import StandInAgent
from workflows.models import Action, LogLine, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

__all__ = ["grpc_server", "syslog_server"]  # fixtures

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
TESTS = Actor.system("tests")
MAC = "52:54:00:7a:00:01"


def _template(images: dict[str, str]) -> str:
    return f"""\
version: "0.1"
name: tink-agent
global_timeout: 600
tasks:
  - name: "os"
    worker: "{{{{ .device_1 }}}}"
    environment:
      LINES: "3"
      DELAY: "0"
    actions:
      - name: "print-lines"
        image: {images["lines"]}
        timeout: 60
      - name: "sleep-a-while"
        image: {images["sleeper"]}
        timeout: 60
        environment:
          SLEEP: "4"
      - name: "fail"
        image: {images["failer"]}
        timeout: 60
        environment:
          EXIT_CODE: "7"
"""


def _wait(condition: Any, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)


def test_a_workflow_runs_on_the_stand_in_through_a_grpc_server_restart(
    grpc_server: CommandProcess,
    syslog_server: CommandProcess,
    docker_client: Any,
    action_images: dict[str, str],
):
    machine = MachineFactory(hostname="tink-e2e")
    NetworkInterfaceFactory(machine=machine, mac=MAC, ip="127.0.0.1", is_boot=True)
    DiskFactory(machine=machine, device="/dev/sda")
    template = template_services.template_create(
        actor=TESTS, name="tink-agent", body=_template(action_images)
    )
    workflow = workflow_create(template=template, machine=machine, actor=TESTS)
    agent = StandInAgent(
        agent_id=MAC,
        grpc_address=grpc_server.address,
        syslog_port=syslog_server.port,
        docker_client=docker_client,
    )
    runner = threading.Thread(target=agent.run, kwargs={"actions": 3})
    runner.start()
    try:
        sleeper = Action.objects.get(task__workflow=workflow, name="sleep-a-while")
        _wait(lambda: Action.objects.get(pk=sleeper.pk).state == Action.State.RUNNING)
        grpc_server.kill()  # the server goes away mid-action ...
        # ... the action ends while it is away: the final report cannot get through ...
        _wait(lambda: "sleep-a-while" in agent.ran and agent.unavailable >= 1)
        grpc_server.start()  # ... until it comes back
        runner.join(timeout=240)
        assert not runner.is_alive(), grpc_server.output()
    finally:
        agent.stop.set()
        runner.join(timeout=10)

    workflow.refresh_from_db()
    assert workflow.state == Workflow.State.FAILED
    actions = {a.name: a for a in Action.objects.filter(task__workflow=workflow)}
    assert actions["print-lines"].state == Action.State.SUCCESS
    assert actions["sleep-a-while"].state == Action.State.SUCCESS
    assert actions["fail"].state == Action.State.FAILED
    assert actions["fail"].message == "exit code 7: failer: failing with exit code 7"
    assert workflow.failure_reason["message"] == actions["fail"].message
    assert agent.ran == ["print-lines", "sleep-a-while", "fail"]

    def texts(name: str) -> list[str]:
        lines = LogLine.objects.filter(action=actions[name]).order_by("seq")
        return [line.text for line in lines]

    _wait(lambda: len(texts("sleep-a-while")) == 2, timeout=15)
    assert texts("print-lines") == ["line 1", "line 2", "line 3"]
    assert texts("sleep-a-while") == ["sleeping 4s", "woke up"]
    assert texts("fail") == ["failer: failing with exit code 7"]
    assert set(LogLine.objects.values_list("stream", flat=True)) == {LogLine.Stream.SYSLOG}

"""The syslog intake in its own process, fed by real senders: util-linux ``logger`` (UDP and
TCP, RFC 3164 and 5424, newline and octet-counted framing) and Python's SysLogHandler."""

from __future__ import annotations

import logging
import logging.handlers
import shutil
import socket
import subprocess
import time
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from rackpilot.routing import browser_urlpatterns
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory, UserFactory
from tests.tinkerbell.processes import CommandProcess, syslog_server
from tests.tools import require_tool
from workflows.agent_protocol.services import ActionReport, machine_report_action
from workflows.models import Action, LogLine, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

__all__ = ["syslog_server"]  # fixture

pytestmark = pytest.mark.django_db(transaction=True)
TESTS = Actor.system("tests")
MAC = "52:54:00:5e:00:01"
TEMPLATE = """\
version: "0.1"
name: syslog
global_timeout: 600
tasks:
  - name: "os"
    worker: "{{ .device_1 }}"
    actions:
      - name: "stream-image"
        image: 127.0.0.1:5000/actions/image2disk:v1
        timeout: 90
      - name: "kexec"
        image: 127.0.0.1:5000/actions/kexec:v1
        timeout: 30
"""


def _running_action(*, ip: str = "127.0.0.1") -> tuple[Any, Workflow, Action]:
    machine = MachineFactory(hostname="hook-syslog")
    NetworkInterfaceFactory(machine=machine, mac=MAC, ip=ip, is_boot=True)
    DiskFactory(machine=machine, device="/dev/sda")
    template = template_services.template_create(actor=TESTS, name="syslog", body=TEMPLATE)
    workflow = workflow_create(template=template, machine=machine, actor=TESTS)
    action = Action.objects.filter(task__workflow=workflow).order_by("order").first()
    assert action is not None
    _report(machine, action, Action.State.RUNNING)
    return machine, workflow, action


def _report(machine: Any, action: Action, state: str) -> None:
    machine_report_action(
        machine=machine,
        report=ActionReport(action_id=action.pk, attempt=action.attempt, state=state),
        exit_code_required=False,
    )


def _logger_path() -> str:
    path = shutil.which("logger")
    require_tool(path is not None, "util-linux logger (package bsdutils)")
    assert path is not None
    return path


def _logger(server: CommandProcess, *options: str) -> None:
    logger = _logger_path()
    subprocess.run(
        [logger, "-n", "127.0.0.1", "-P", str(server.port), *options],
        check=True,
        timeout=10,
    )


def _lines(action: Action, count: int, timeout: float = 15.0) -> list[LogLine]:
    deadline = time.monotonic() + timeout
    while True:
        lines = list(LogLine.objects.filter(action=action).order_by("seq"))
        if len(lines) >= count or time.monotonic() > deadline:
            return lines
        time.sleep(0.05)


def test_logger_over_udp_and_tcp_in_both_formats_lands_on_the_running_action(syslog_server):
    _, _, action = _running_action()
    _logger(syslog_server, "-d", "--rfc3164", "-t", "stream-image", "udp rfc3164")
    _lines(action, 1)
    _logger(syslog_server, "-d", "--rfc5424", "-t", "stream-image", "udp rfc5424")
    _lines(action, 2)
    _logger(syslog_server, "-T", "--rfc3164", "-t", "stream-image", "tcp rfc3164")
    _lines(action, 3)
    _logger(syslog_server, "-T", "--rfc5424", "--octet-count", "-t", "x", "tcp octet-counted")
    _lines(action, 4)
    # The same message twice is two lines: nothing is merged, nothing is lost.
    _logger(syslog_server, "-d", "--rfc5424", "-t", "stream-image", "again")
    _logger(syslog_server, "-d", "--rfc5424", "-t", "stream-image", "again")

    lines = _lines(action, 6)
    assert [line.text for line in lines] == [
        "udp rfc3164",
        "udp rfc5424",
        "tcp rfc3164",
        "tcp octet-counted",
        "again",
        "again",
    ]
    assert [line.seq for line in lines] == [1, 2, 3, 4, 5, 6]
    assert {line.stream for line in lines} == {LogLine.Stream.SYSLOG}
    assert {line.attempt for line in lines} == {1}
    action.refresh_from_db()
    assert action.log_seq == 6


def test_python_syslog_handler_over_tcp_keeps_the_order_of_many_lines(syslog_server):
    _, _, action = _running_action()
    handler = logging.handlers.SysLogHandler(
        address=("127.0.0.1", syslog_server.port), socktype=socket.SOCK_STREAM
    )
    handler.append_nul = False  # newline framing, as rsyslog expects over TCP
    handler.setFormatter(logging.Formatter("stream-image: %(message)s\n"))
    sender = logging.getLogger("tests.syslog.tcp")
    sender.propagate = False
    sender.addHandler(handler)
    try:
        for number in range(300):
            sender.warning("line %03d", number)
    finally:
        sender.removeHandler(handler)
        handler.close()
    assert len(_lines(action, 300)) == 300  # TCP is in order; a datagram may overtake it
    udp = logging.handlers.SysLogHandler(address=("127.0.0.1", syslog_server.port))
    udp.emit(logging.makeLogRecord({"msg": "over udp", "levelno": logging.INFO}))
    udp.close()

    lines = _lines(action, 301)
    assert [line.text for line in lines[:300]] == [f"line {n:03d}" for n in range(300)]
    assert lines[300].text == "over udp"
    assert [line.seq for line in lines] == list(range(1, 302))


def test_messages_with_no_running_action_go_to_the_machine_timeline(syslog_server):
    machine, _, action = _running_action()
    _report(machine, action, Action.State.SUCCESS)  # the next action is pending, none runs
    for text in ("between actions 1", "between actions 2"):
        _logger(syslog_server, "-d", "-t", "tink-agent", text)
    deadline = time.monotonic() + 15
    while not Event.objects.filter(verb="syslog.unattributed").exists():
        assert time.monotonic() < deadline, syslog_server.output()
        time.sleep(0.05)
    event = Event.objects.get(verb="syslog.unattributed")
    assert event.machine_id == machine.pk
    assert "between actions" in event.message
    assert not LogLine.objects.exists()


def test_a_message_from_an_unknown_address_is_counted_in_the_server_log(syslog_server):
    _running_action(ip="10.55.0.9")  # the sender (127.0.0.1) is not this machine
    _logger(syslog_server, "-d", "-t", "stream-image", "from nowhere")
    deadline = time.monotonic() + 15
    while "an address no machine's interface has" not in syslog_server.output():
        assert time.monotonic() < deadline, syslog_server.output()
        time.sleep(0.05)
    assert "127.0.0.1" in syslog_server.output()
    assert not LogLine.objects.exists()


@pytest.mark.asyncio
async def test_a_browser_watching_the_workflow_sees_the_syslog_lines_live(syslog_server):
    def setup() -> tuple[Workflow, Action, Any]:
        _, workflow, action = _running_action()
        user = UserFactory()
        user.user_permissions.add(
            Permission.objects.get(codename="view_workflow", content_type__app_label="workflows")
        )
        return workflow, action, user

    workflow, action, user = await database_sync_to_async(setup)()
    browser = WebsocketCommunicator(URLRouter(browser_urlpatterns), f"/ws/workflows/{workflow.pk}/")
    browser.scope["user"] = user
    assert (await browser.connect())[0]
    await browser.send_json_to({"type": "subscribe", "cursors": {}})
    while (await browser.receive_json_from(timeout=5))["type"] != "backlog_done":
        pass

    logger = _logger_path()
    sender = subprocess.run(
        [logger, "-n", "127.0.0.1", "-P", str(syslog_server.port), "-d", "-t", "x", "live one"],
        check=True,
        timeout=10,
    )
    assert sender.returncode == 0
    frame = await browser.receive_json_from(timeout=10)
    assert frame["type"] == "lines"
    assert frame["action"] == action.pk
    assert [(ln["seq"], ln["stream"], ln["text"]) for ln in frame["lines"]] == [
        (1, "syslog", "live one")
    ]
    await browser.disconnect()

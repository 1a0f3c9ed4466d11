"""The status file, ``rackpilot-agent status`` and the console copy of the log."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rackpilot_agent.agent import Agent
from rackpilot_agent.cli import log_to_console, main
from rackpilot_agent.config import DEFAULT_STATUS_PATH, Settings, load_settings
from rackpilot_agent.connection import AuthenticationFailed
from rackpilot_agent.logstream import ActionLog
from rackpilot_agent.runner import ActionSpec, Outcome
from rackpilot_agent.status import show

from tests.agent_unit.fakeserver import GOOD_TOKEN, WORKER, FakeRackpilot, action_payload
from tests.agent_unit.test_agent_loop import FakeRunner, _run

IMAGE = "quay.io/tinkerbell/actions/image2disk:v1"


def _agent(settings: Settings, url: str, runner: FakeRunner, **changes: Any) -> Agent:
    settings = replace(settings, url=url, token=GOOD_TOKEN, **changes)
    return Agent(settings, runner=runner)  # type: ignore[arg-type]


def _read(path: Path) -> dict[str, Any]:
    try:
        document: dict[str, Any] = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    return document


async def _until(condition: Callable[[], bool]) -> None:
    while not condition():
        await asyncio.sleep(0.01)


def test_the_status_file_follows_the_connection_and_the_running_action(
    agent_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    status_path = tmp_path / "run" / "rackpilot-agent" / "status.json"  # no such directory yet
    server = FakeRackpilot()
    release = asyncio.Event()
    snapshots: dict[str, dict[str, Any]] = {}
    printed: list[str] = []

    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        snapshots["running"] = _read(status_path)
        assert main(["status", "--status-file", str(status_path)]) == 0
        printed.extend(capsys.readouterr().out.splitlines())
        await release.wait()
        return Outcome("failed", 3, "exited with code 3")

    runner = FakeRunner(script)

    async def scenario() -> None:
        url = await server.start()
        agent = _agent(agent_settings, url, runner, status_path=status_path, recheck=60.0)
        task = asyncio.create_task(agent.run())
        try:
            await _until(lambda: _read(status_path).get("state") == "waiting")
            snapshots["idle"] = _read(status_path)
            server.actions.append(action_payload(31, workflow=7, name="stream-image", image=IMAGE))
            await server.push({"type": "work_available", "workflow": 7})
            await _until(lambda: "running" in snapshots)
            release.set()
            await _until(lambda: _read(status_path).get("last_action") is not None)
            await _until(lambda: _read(status_path).get("state") == "waiting")
            snapshots["after"] = _read(status_path)
        finally:
            agent.stop()
            assert await task == 0
            await server.stop()
        snapshots["stopped"] = _read(status_path)

    _run(scenario())
    url = server.url

    idle = snapshots["idle"]
    assert (idle["connection"], idle["machine"], idle["worker_id"]) == (
        "connected",
        "node-a",
        WORKER,
    )
    assert idle["server"] == url
    assert idle["action"] is None

    running = snapshots["running"]
    assert (running["state"], running["connection"]) == ("running", "connected")
    action = running["action"]
    assert (action["workflow"], action["action"], action["attempt"]) == (7, 31, 1)
    assert (action["name"], action["image"]) == ("stream-image", IMAGE)
    assert datetime.fromisoformat(action["started_at"]) <= datetime.now(UTC)

    assert printed[0] == f"connected to {url} as node-a ({WORKER})"
    assert re.fullmatch(
        rf"running action 'stream-image' \(workflow 7, action 31\) for \d+ s, "
        rf"image {re.escape(IMAGE)}",
        printed[1],
    )
    assert printed[-1].startswith("last updated ")

    after = snapshots["after"]
    assert after["action"] is None
    last = after["last_action"]
    assert (last["action"], last["state"], last["exit_code"]) == (31, "failed", 3)
    assert last["started_at"] == action["started_at"]

    stopped = snapshots["stopped"]
    assert (stopped["state"], stopped["connection"], stopped["reason"]) == ("stopped", None, None)


def test_status_prints_the_current_action_and_how_long_it_has_run(tmp_path: Path):
    now = datetime(2026, 11, 28, 10, 0, 42, tzinfo=UTC)
    status_path = tmp_path / "status.json"
    status_path.write_text(
        json.dumps(
            {
                "state": "running",
                "updated_at": "2026-11-28T10:00:00.000Z",
                "pid": 4242,
                "server": "http://10.0.0.1:8000",
                "worker_id": "52:54:00:12:34:56",
                "machine": "node-01",
                "connection": "connected",
                "activity": "running",
                "action": {
                    "workflow": 7,
                    "action": 31,
                    "attempt": 2,
                    "name": "stream-image",
                    "image": IMAGE,
                    "started_at": "2026-11-28T10:00:00.000Z",
                },
                "last_action": None,
            }
        )
    )
    out = io.StringIO()
    # The agent's environment variable names the file, as it does for the agent itself.
    environ = {"RACKPILOT_AGENT_STATUS": str(status_path)}
    assert show([], environ=environ, out=out, now=now) == 0
    assert out.getvalue().splitlines() == [
        "connected to http://10.0.0.1:8000 as node-01 (52:54:00:12:34:56)",
        f"running action 'stream-image' (workflow 7, action 31, attempt 2) for 42 s, image {IMAGE}",
        "last updated 2026-11-28T10:00:00.000Z (42 s ago) by agent pid 4242",
    ]


def test_status_says_why_the_agent_is_disconnected_and_what_it_last_did(
    agent_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    status_path = tmp_path / "status.json"

    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        return Outcome("success", 0)

    server = FakeRackpilot()
    server.actions = [action_payload(5, name="wipe-disks")]

    async def scenario() -> None:
        url = await server.start()
        agent = _agent(
            agent_settings, url, FakeRunner(script), status_path=status_path, backoff_max=5.0
        )
        agent.connection.backoff.next_delay = lambda: 5.0  # type: ignore[method-assign]
        task = asyncio.create_task(agent.run())
        try:
            await _until(lambda: _read(status_path).get("state") == "waiting")
            await server.stop()  # the server goes away: the socket drops, reconnects fail
            await _until(lambda: _read(status_path).get("connection") == "disconnected")
            assert main(["status", "--status-file", str(status_path)]) == 0
        finally:
            agent.stop()
            assert await task == 0

    _run(scenario())
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(
        rf"disconnected from {re.escape(server.url)} \(.+\); retrying in [45] s", lines[0]
    )
    assert re.fullmatch(r"waiting for work for \d+ s", lines[1])
    assert re.fullmatch(
        r"last action: action 'wipe-disks' \(workflow 1, action 5\) ended \d+ s ago: "
        r"success, exit code 0",
        lines[2],
    )


def test_an_agent_that_gave_up_says_why_it_stopped(
    agent_settings: Settings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    status_path = tmp_path / "status.json"
    server = FakeRackpilot()
    server.refuse_handshake = True

    async def scenario() -> None:
        url = await server.start()
        try:
            await _agent(
                agent_settings,
                url,
                FakeRunner(_never),
                status_path=status_path,
                max_auth_failures=1,
            ).run()
        finally:
            await server.stop()

    with pytest.raises(AuthenticationFailed):
        _run(scenario())
    assert _read(status_path)["state"] == "stopped"
    assert main(["status", "--status-file", str(status_path)]) == 0
    first = capsys.readouterr().out.splitlines()[0]
    assert first.startswith("stopped: the server refused the agent 1 time(s): HTTP 403")


def test_status_without_a_status_file_exits_1_and_says_the_agent_has_not_started(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    missing = tmp_path / "status.json"
    assert main(["status", "--status-file", str(missing)]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    assert f"no status file at {missing}: the agent has not started yet" in captured.err


def test_status_with_an_unreadable_status_file_exits_1(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    garbled = tmp_path / "status.json"
    garbled.write_text('{"state": "runn')
    assert main(["status", "--status-file", str(garbled)]) == 1
    assert f"cannot read the status file {garbled}" in capsys.readouterr().err


def test_an_unwritable_status_path_only_warns_once(
    agent_settings: Settings, tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")  # a file where the directory should be stops even root
    status_path = blocker / "status.json"

    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        log.write("stdout", "still working")
        return Outcome("success", 0)

    server = FakeRackpilot()
    server.actions = [action_payload(3)]

    async def scenario() -> int:
        url = await server.start()
        try:
            agent = _agent(
                agent_settings, url, FakeRunner(script), status_path=status_path, once=True
            )
            return await agent.run()
        finally:
            await server.stop()

    with caplog.at_level(logging.WARNING, logger="rackpilot_agent"):
        assert _run(scenario()) == 0
    assert server.actions[0]["state"] == "success"
    assert server.log_texts(3) == ["still working"]
    warnings = [r.getMessage() for r in caplog.records if "status file" in r.getMessage()]
    assert len(warnings) == 1
    assert str(status_path) in warnings[0]
    assert not status_path.exists()


def test_the_log_is_copied_to_the_console_device(tmp_path: Path):
    console = tmp_path / "ttyS0"
    console.write_text("earlier boot output\n")
    handler = log_to_console(str(console))
    assert handler is not None
    try:
        logging.getLogger("rackpilot_agent.test").warning("action 31 running")
    finally:
        logging.getLogger().removeHandler(handler)
        handler.close()
    lines = console.read_text().splitlines()
    assert lines[0] == "earlier boot output"  # appended, not overwritten
    assert lines[1].endswith("WARNING rackpilot_agent.test: action 31 running")


def test_a_console_that_cannot_be_opened_is_only_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
):
    missing = tmp_path / "no-such-tty"
    with caplog.at_level(logging.WARNING, logger="rackpilot_agent"):
        assert log_to_console(str(missing)) is None
    assert f"cannot write the log to the console {missing}" in caplog.text
    assert not missing.exists()


def test_status_file_and_console_come_from_flags_environment_and_kernel_command_line(
    tmp_path: Path,
):
    cmdline = tmp_path / "cmdline"
    cmdline.write_text(
        "rackpilot_url=http://s rackpilot_token=rpa_x worker_id=52:54:00:00:00:01 "
        "rackpilot_console=/dev/ttyS0\n"
    )
    defaults = load_settings([], environ={}, cmdline_path=cmdline)
    assert defaults.status_path == DEFAULT_STATUS_PATH
    assert defaults.console == "/dev/ttyS0"

    environ = {"RACKPILOT_AGENT_STATUS": "/tmp/env.json", "RACKPILOT_AGENT_CONSOLE": "/dev/tty1"}
    from_env = load_settings([], environ=environ, cmdline_path=cmdline)
    assert (from_env.status_path, from_env.console) == (Path("/tmp/env.json"), "/dev/tty1")

    flags = ["--status-file", "/tmp/flag.json", "--console", "/dev/console"]
    from_flags = load_settings(flags, environ=environ, cmdline_path=cmdline)
    assert (from_flags.status_path, from_flags.console) == (Path("/tmp/flag.json"), "/dev/console")


async def _never(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
    raise AssertionError("no action should run")

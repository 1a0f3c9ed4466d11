"""The agent's loop against a fake ``/ws/agent/`` on loopback, with a fake container runner."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from rackpilot_agent.agent import Agent
from rackpilot_agent.config import Settings
from rackpilot_agent.connection import AuthenticationFailed
from rackpilot_agent.logstream import ActionLog
from rackpilot_agent.runner import ActionSpec, Outcome, reported_directory
from rackpilot_agent.spool import LogLine, Spool, list_spools, spool_directory
from rackpilot_agent.tokens import RENEW_BEFORE

from tests.agent_unit.fakeserver import (
    GOOD_TOKEN,
    NONCE,
    SESSION_TOKEN,
    FakeRackpilot,
    action_payload,
)

Script = Callable[[ActionSpec, ActionLog, asyncio.Event], Awaitable[Outcome]]


class FakeRunner:
    """Plays a script instead of starting containers."""

    def __init__(self, script: Script) -> None:
        self.script = script
        self.runs: list[tuple[int, bool]] = []
        self.shut_down = False

    async def run(
        self, spec: ActionSpec, action_log: ActionLog, cancel: asyncio.Event, *, resume: bool
    ) -> Outcome:
        self.runs.append((spec.action, resume))
        return await self.script(spec, action_log, cancel)

    async def shutdown(self) -> None:
        self.shut_down = True

    def close(self) -> None:
        pass


def _run(coroutine: Awaitable[Any], timeout: float = 20) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(coroutine, timeout)

    return asyncio.run(bounded())


def _agent(agent_settings: Settings, url: str, runner: FakeRunner, **changes: Any) -> Agent:
    agent_settings = replace(agent_settings, url=url, token=GOOD_TOKEN, **changes)
    return Agent(agent_settings, runner=runner)  # type: ignore[arg-type]


async def _until_no_work(
    server: FakeRackpilot, agent_settings: Settings, runner: FakeRunner
) -> int:
    """Run an agent with ``once`` against ``server`` until it has nothing left to do."""
    url = await server.start()
    try:
        return await _agent(agent_settings, url, runner, once=True).run()
    finally:
        await server.stop()


def test_an_action_is_reported_only_after_its_whole_log_is_acknowledged(agent_settings: Settings):
    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        for index in range(1200):
            log.write("stdout" if index % 3 else "stderr", f"line {index}")
        return Outcome("failed", 2, "exited with code 2", {"command": "on-failure", "exit_code": 0})

    server = FakeRackpilot()
    server.actions = [action_payload(31)]
    runner = FakeRunner(script)

    assert _run(_until_no_work(server, agent_settings, runner)) == 0
    hello = server.of_type("hello")[0]
    assert hello["worker_id"] == agent_settings.worker_id
    assert set(hello["hardware"]) >= {"cpu", "disks", "nics", "dmi"}
    assert server.log_texts(31) == [f"line {index}" for index in range(1200)]
    states = server.of_type("action_state")
    assert [state["state"] for state in states] == ["running", "failed"]
    assert states[0]["at"].endswith("Z")
    final = states[1]
    assert (final["exit_code"], final["message"]) == (2, "exited with code 2")
    assert final["reaction"] == {"command": "on-failure", "exit_code": 0}
    # Every log batch came before the final report.
    types = server.types()
    assert max(i for i, kind in enumerate(types) if kind == "logs") < types.index(
        "action_state", types.index("action_state") + 1
    )
    assert list_spools(agent_settings.spool_dir) == []  # acknowledged, so nothing left on disk


@pytest.mark.parametrize("gives_next", [True, False], ids=["server-gives-next", "older-server"])
def test_the_next_action_given_with_a_report_is_run_without_asking(
    agent_settings: Settings, gives_next: bool
):
    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        log.write("stdout", f"ran {spec.action}")
        return Outcome("success", 0)

    server = FakeRackpilot()
    server.gives_next = gives_next
    server.actions = [action_payload(41), action_payload(42), action_payload(43)]
    runner = FakeRunner(script)

    assert _run(_until_no_work(server, agent_settings, runner)) == 0
    assert runner.runs == [(41, False), (42, False), (43, False)]
    states = [(f["action"], f["state"]) for f in server.of_type("action_state")]
    assert states == [(a, s) for a in (41, 42, 43) for s in ("running", "success")]
    # Given: asked at the start and after the last action (its answer had no next action).
    # An older server's answers carry none: the agent asks after every action.
    assert len(server.of_type("next_action")) == (2 if gives_next else 4)


def test_pushed_work_wakes_the_agent_without_polling(agent_settings: Settings):
    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        log.write("stdout", "ran")
        return Outcome("success", 0)

    server = FakeRackpilot()
    runner = FakeRunner(script)

    async def scenario() -> float:
        url = await server.start()
        agent = _agent(agent_settings, url, runner, recheck=60.0)
        task = asyncio.create_task(agent.run())
        try:
            while server.types().count("next_action") < 1:
                await asyncio.sleep(0.01)
            await asyncio.sleep(0.3)
            assert server.types().count("next_action") == 1  # idle means idle
            server.actions.append(action_payload(5))
            pushed = time.monotonic()
            await server.push({"type": "work_available", "workflow": 1})
            while server.actions[0]["state"] != "success":
                await asyncio.sleep(0.01)
            return time.monotonic() - pushed
        finally:
            agent.stop()
            assert await task == 0
            await server.stop()

    assert _run(scenario()) < 2.0
    assert runner.runs == [(5, False)]
    assert runner.shut_down


def test_a_cancel_push_stops_the_action_and_nothing_more_is_reported(agent_settings: Settings):
    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        log.write("stdout", "working")
        await cancel.wait()
        return Outcome("cancelled")

    server = FakeRackpilot()
    server.actions = [action_payload(9)]

    async def cancel_when_running(frame: dict[str, Any]) -> None:
        if frame["type"] == "action_state" and frame["state"] == "running":
            server.actions[0]["state"] = "failed"  # the server already made it final
            asyncio.get_running_loop().call_later(
                0.1,
                lambda: asyncio.ensure_future(
                    server.push({"type": "cancel", "action": 9, "attempt": 1})
                ),
            )

    server.before_reply = cancel_when_running
    runner = FakeRunner(script)

    assert _run(_until_no_work(server, agent_settings, runner)) == 0
    assert [state["state"] for state in server.of_type("action_state")] == ["running"]
    assert list_spools(agent_settings.spool_dir) == []


def test_a_dropped_connection_is_reestablished_and_the_log_resent_once(agent_settings: Settings):
    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        for index in range(300):
            log.write("stdout", f"l{index}")
            if index % 50 == 0:
                await asyncio.sleep(0.06)
        return Outcome("success", 0)

    server = FakeRackpilot()
    server.actions = [action_payload(4)]
    dropped: list[int] = []

    def drop_second_batch(frame: dict[str, Any]) -> str | None:
        if frame["type"] == "logs" and len(server.of_type("logs")) == 2 and not dropped:
            dropped.append(frame["first_seq"])
            return "drop"  # the batch is lost with the connection: no ack
        return None

    server.before_reply = drop_second_batch
    runner = FakeRunner(script)

    assert _run(_until_no_work(server, agent_settings, runner)) == 0
    assert dropped
    assert server.types().count("hello") == 2
    assert server.log_texts(4) == [f"l{index}" for index in range(300)]
    assert server.of_type("action_state")[-1]["state"] == "success"


def test_lines_spooled_by_an_earlier_process_are_resent_at_start(agent_settings: Settings):
    directory = spool_directory(agent_settings.spool_dir, 12, 1)
    spool = Spool(directory, cap_bytes=agent_settings.spool_cap)
    for seq in range(1, 4):
        spool.append(LogLine(seq, "stdout", "2026-11-28T10:00:00Z", f"before crash {seq}"))
    spool.sync()
    spool.close()
    server = FakeRackpilot()

    assert _run(_until_no_work(server, agent_settings, FakeRunner(_never))) == 0
    assert server.log_texts(12) == ["before crash 1", "before crash 2", "before crash 3"]
    assert not directory.exists()


def test_a_restarted_agent_resumes_a_running_action_after_the_servers_seq(agent_settings: Settings):
    directory = spool_directory(agent_settings.spool_dir, 8, 1)
    spool = Spool(directory, cap_bytes=agent_settings.spool_cap)
    for seq in range(1, 6):
        spool.append(LogLine(seq, "stdout", "2026-11-28T10:00:00Z", f"old {seq}"))
    spool.sync()
    spool.close()

    async def script(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        log.write("stdout", "new")
        return Outcome("success", 0)

    server = FakeRackpilot()
    server.actions = [action_payload(8, state="running", log_seq=2)]
    server.lines[(8, 1)] = {seq: {"text": f"old {seq}"} for seq in (1, 2)}
    runner = FakeRunner(script)

    assert _run(_until_no_work(server, agent_settings, runner)) == 0
    assert runner.runs == [(8, True)]  # resumed, not reported as newly running
    assert server.log_texts(8) == ["old 1", "old 2", "old 3", "old 4", "old 5", "new"]
    assert [state["state"] for state in server.of_type("action_state")] == ["success"]


def test_the_token_is_renewed_before_it_expires_and_the_socket_reopened(agent_settings: Settings):
    server = FakeRackpilot()
    soon = datetime.now(UTC) + RENEW_BEFORE + timedelta(seconds=0.3)

    async def scenario() -> None:
        url = await server.start()
        agent = _agent(agent_settings, url, FakeRunner(_never), token_expires_at=soon)
        task = asyncio.create_task(agent.run())
        try:
            while server.types().count("hello") < 2:
                await asyncio.sleep(0.02)
        finally:
            agent.stop()
            await task
            await server.stop()

    _run(scenario())
    assert server.types().count("renew_token") == 1
    stored = json.loads((agent_settings.state_dir / "token.json").read_text())
    assert stored["token"] == GOOD_TOKEN
    assert stored["expires_at"].startswith("2099-01-01")


def test_a_boot_nonce_is_exchanged_at_hello_and_the_session_used_from_then_on(
    agent_settings: Settings,
):
    server = FakeRackpilot()
    server.close_after_hello = 1012  # a server restart right after the first welcome

    async def scenario() -> None:
        url = await server.start()
        agent = _agent(agent_settings, url, FakeRunner(_never))
        agent.tokens.configured = NONCE  # what netboot put on the kernel command line
        task = asyncio.create_task(agent.run())
        try:
            while server.types().count("hello") < 2:
                await asyncio.sleep(0.02)
        finally:
            agent.stop()
            await task
            await server.stop()

    _run(scenario())
    # Reconnected with the session: the spent nonce would be refused.
    assert server.handshake_tokens[:2] == [NONCE, SESSION_TOKEN]
    stored = json.loads((agent_settings.state_dir / "token.json").read_text())
    assert stored["token"] == SESSION_TOKEN  # a restarted agent keeps using the session


@pytest.mark.parametrize("how", ["handshake", "close-4401"])
def test_a_refused_token_gives_up_after_the_configured_attempts(agent_settings: Settings, how: str):
    server = FakeRackpilot()
    if how == "handshake":
        server.refuse_handshake = True
    else:
        server.close_after_hello = 4401

    async def scenario() -> None:
        url = await server.start()
        try:
            await _agent(agent_settings, url, FakeRunner(_never), max_auth_failures=3).run()
        finally:
            await server.stop()

    with pytest.raises(AuthenticationFailed, match="refused the agent 3 time"):
        _run(scenario())
    assert server.handshakes == 3


def test_a_worker_id_the_machine_lacks_is_explained(agent_settings: Settings):
    server = FakeRackpilot()

    async def scenario() -> None:
        url = await server.start()
        try:
            await _agent(
                agent_settings,
                url,
                FakeRunner(_never),
                worker_id="aa:bb:cc:dd:ee:ff",
                max_auth_failures=1,
            ).run()
        finally:
            await server.stop()

    with pytest.raises(AuthenticationFailed, match="--worker-id"):
        _run(scenario())


async def _never(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
    raise AssertionError("no action should run")


def test_a_reboot_action_is_told_once_its_success_is_reported(agent_settings: Settings):
    """The action finds the agent's "reported" file only after the server acknowledged the
    success; the agent removes the folder once the container is gone."""
    folder = reported_directory(ActionSpec.from_payload(action_payload(31)), agent_settings)
    seen: dict[str, object] = {}

    async def reboot(spec: ActionSpec, log: ActionLog, cancel: asyncio.Event) -> Outcome:
        folder.mkdir(parents=True)  # as DockerRunner does before starting the container

        async def container() -> None:
            while not (folder / "reported").exists():
                await asyncio.sleep(0.01)
            seen["reports_before_file"] = [f["state"] for f in server.of_type("action_state")]

        return Outcome(
            "success", 0, "reported when started", detached=asyncio.ensure_future(container())
        )

    server = FakeRackpilot()
    server.actions = [action_payload(31, image="127.0.0.1:5000/actions/reboot:v1")]

    assert _run(_until_no_work(server, agent_settings, FakeRunner(reboot))) == 0
    assert seen["reports_before_file"] == ["running", "success"]
    assert not folder.exists()

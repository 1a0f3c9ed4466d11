"""Faults in the log pipeline: the agent killed mid-action, the server restarted mid-stream.
Either way every line the container wrote is stored exactly once (checked by seq) and every
line reaches a watching browser."""

from __future__ import annotations

import pytest

from tests.agent.e2e import (
    AgentProcess,
    BrowserClient,
    action_yaml,
    actions_of,
    machine_with_disk,
    start_workflow,
    stored_lines,
    wait_for,
)
from tests.live_server import asgi_live_server

__all__ = ["asgi_live_server"]  # a fixture, imported to be used here

pytestmark = [pytest.mark.faults, pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
LINES = 200


def _counting_workflow(action_images):
    machine = machine_with_disk()
    workflow = start_workflow(
        machine,
        "counting",
        action_yaml("count", action_images["lines"], 120, {"LINES": str(LINES), "DELAY": "0.03"}),
    )
    return machine, workflow, actions_of(workflow)[0]


def _container_lines(action) -> list[str]:
    return [text for _, stream, text in stored_lines(action) if stream != "system"]


def _expected() -> list[str]:
    return [f"\x1b[32mline {n}\x1b[0m" if n % 10 == 0 else f"line {n}" for n in range(1, LINES + 1)]


def _agent(server, machine, engine, state_dir):
    state_dir.mkdir(exist_ok=True)
    agent = AgentProcess(
        server=server, machine=machine, docker_host=engine.base_url, state_dir=state_dir
    )
    agent.start()
    return agent


def _assert_complete(action, browser):
    stored = stored_lines(action)
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1)), "no gap, no repeat"
    assert _container_lines(action) == _expected()
    wait_for(lambda: len(browser.lines(action.pk)) >= len(stored), 15, "every line in the browser")
    assert [(line["seq"], line["text"]) for line in browser.lines(action.pk)] == [
        (seq, text) for seq, _, text in stored
    ]


def test_agent_killed_mid_action_and_restarted_loses_and_repeats_nothing(
    asgi_live_server, action_images, podman_engine, tmp_path
):
    machine, workflow, action = _counting_workflow(action_images)
    browser = BrowserClient(asgi_live_server, workflow)
    first = _agent(asgi_live_server, machine, podman_engine, tmp_path / "state")
    try:
        wait_for(lambda: len(_container_lines(action)) >= 40, 60, "the first lines")
        first.kill()  # SIGKILL: no goodbye, unacknowledged lines only in the spool
        second = _agent(asgi_live_server, machine, podman_engine, tmp_path / "state")
        assert second.wait(timeout=120) == 0, second.output()
    finally:
        first.stop()
        podman_engine.remove_all_containers()

    workflow.refresh_from_db()
    assert workflow.state == "success", (workflow.failure_reason, second.output())
    action.refresh_from_db()
    _assert_complete(action, browser)
    browser.close()


def test_server_restarted_mid_stream_loses_and_repeats_nothing(
    asgi_live_server, action_images, podman_engine, tmp_path
):
    machine, workflow, action = _counting_workflow(action_images)
    agent = _agent(asgi_live_server, machine, podman_engine, tmp_path / "state")
    try:
        wait_for(lambda: len(_container_lines(action)) >= 40, 60, "the first lines")
        asgi_live_server.restart()
        assert agent.wait(timeout=120) == 0, agent.output()
    finally:
        agent.stop()
        podman_engine.remove_all_containers()

    workflow.refresh_from_db()
    assert workflow.state == "success", (workflow.failure_reason, agent.output())
    action.refresh_from_db()
    # A browser that connects after the restart gets the whole log from the database.
    browser = BrowserClient(asgi_live_server, workflow)
    _assert_complete(action, browser)
    browser.close()

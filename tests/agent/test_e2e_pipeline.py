"""Server + rackpilot-agent + real containers (podman's Docker API, images pulled from a local
registry) + a browser-side WebSocket client. Nothing here is mocked."""

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

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]
MAX_LINE = 64 * 1024


@pytest.fixture
def run_agent(asgi_live_server, podman_engine, tmp_path):
    agents: list[AgentProcess] = []

    def start(machine):
        agent = AgentProcess(
            server=asgi_live_server,
            machine=machine,
            docker_host=podman_engine.base_url,
            state_dir=tmp_path / f"agent-{len(agents)}",
        )
        agent.state_dir.mkdir()
        agent.start()
        agents.append(agent)
        return agent

    yield start
    for agent in agents:
        agent.stop()
    podman_engine.remove_all_containers()


def test_multi_action_workflow_streams_live_to_the_browser(
    asgi_live_server, action_images, run_agent
):
    machine = machine_with_disk()
    workflow = start_workflow(
        machine,
        "stream",
        action_yaml(
            "count", action_images["lines"], 60, {"LINES": "60", "DELAY": "0.05", "STREAM": "both"}
        )
        + action_yaml("long-line", action_images["longline"], 60, {"LONG_LINE_BYTES": "200000"}),
    )
    count, long_line = actions_of(workflow)
    browser = BrowserClient(asgi_live_server, workflow)

    agent = run_agent(machine)
    assert agent.wait(timeout=120) == 0, agent.output()

    workflow.refresh_from_db()
    assert workflow.state == "success", (workflow.failure_reason, agent.output())
    machine.refresh_from_db()
    assert machine.state == "provisioned"
    assert machine.hardware.get("cpu"), "the agent reported the host's hardware"

    # Every line stored once, in order, with its stream; ANSI codes kept as written. The agent
    # adds its own `system` lines (pulling the image...) to the same sequence.
    stored = stored_lines(count)
    assert [seq for seq, _, _ in stored] == list(range(1, len(stored) + 1))
    output = [(stream, text) for _, stream, text in stored if stream != "system"]
    expected = []
    for n in range(1, 61):
        stream = "stdout" if n % 2 else "stderr"
        colour = "32" if stream == "stdout" else "31"
        text = f"\x1b[{colour}mline {n}\x1b[0m" if n % 10 == 0 else f"line {n}"
        expected.append((stream, text))
    assert output == expected

    # The browser got every line, live: its first line arrived before the action ended.
    wait_for(lambda: len(browser.lines(count.pk)) >= len(stored), 10, "all lines in the browser")
    assert [(line["seq"], line["text"]) for line in browser.lines(count.pk)] == [
        (seq, text) for seq, _, text in stored
    ]
    first = browser.first_line_time(count.pk)
    ended = browser.state_time(count.pk, "success")
    assert first is not None
    assert ended is not None
    assert first < ended - 1.0, "lines must arrive while the action is still running"

    # A 200,000-byte line is split into pieces of at most 64 KiB, none dropped.
    pieces = [text for _, stream, text in stored_lines(long_line) if stream != "system"]
    assert all(len(piece.encode()) <= MAX_LINE for piece in pieces)
    digits = "".join(piece for piece in pieces if piece and piece[0].isdigit())
    assert len(digits) == 200_000
    assert "short line" in pieces
    browser.close()


def test_exit_code_failure_runs_the_on_failure_reaction(asgi_live_server, action_images, run_agent):
    machine = machine_with_disk()
    workflow = start_workflow(
        machine,
        "fails",
        action_yaml(
            "break",
            action_images["failer"],
            60,
            {"EXIT_CODE": "3"},
            extra='        on-failure: ["sh", "-c", "echo cleaning up"]',
        )
        + action_yaml("never", action_images["lines"], 60, {"LINES": "1"}),
    )
    agent = run_agent(machine)
    assert agent.wait(timeout=120) == 0, agent.output()

    workflow.refresh_from_db()
    failed, never = actions_of(workflow)
    assert workflow.state == "failed"
    assert workflow.failure_reason["exit_code"] == 3
    assert workflow.failure_reason["action"] == "break"
    assert workflow.failure_reason["last_lines"], "the failure reason carries the last lines"
    assert failed.state == "failed"
    assert failed.exit_code == 3
    assert failed.reaction.get("exit_code") == 0, failed.reaction
    assert never.state == "skipped"
    machine.refresh_from_db()
    assert machine.state == "failed"


def test_timeout_stops_the_container_and_runs_on_timeout(
    asgi_live_server, action_images, run_agent, podman_engine
):
    machine = machine_with_disk()
    workflow = start_workflow(
        machine,
        "slow",
        action_yaml(
            "sleep",
            action_images["sleeper"],
            3,
            {"SLEEP": "60"},
            extra='        on-timeout: ["sh", "-c", "echo timed out"]',
        ),
    )
    agent = run_agent(machine)
    assert agent.wait(timeout=120) == 0, agent.output()

    workflow.refresh_from_db()
    (action,) = actions_of(workflow)
    assert workflow.state == "timeout"
    assert action.state == "timeout"
    assert "sleeping 60s" in [text for _, _, text in stored_lines(action)]
    assert action.reaction.get("exit_code") == 0, action.reaction
    assert podman_engine.client().containers.list(all=True) == [], "containers are removed"

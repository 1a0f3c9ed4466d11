"""The live log panel: Chromium on the workflow page, daphne, Redis, and an agent over REST.

The agent speaks the real protocol to the ASGI live server; the page gets the lines and states
over its WebSocket, with no reload. Terminal contents are read from xterm's buffer through the
page's ``window.rackpilotLiveLog`` hook.
"""

from __future__ import annotations

import contextlib
import json
import re
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from playwright.sync_api import Page, WebSocketRoute, expect
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from rackpilot.core.actors import Actor
from tests.live_server import AsgiLiveServer, asgi_live_server, call_in_thread, sign_in_page
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.agent_protocol.logs import agent_upload_logs
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import Action, AgentToken, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create, workflow_retry

__all__ = ["asgi_live_server"]  # a fixture, imported to be used here

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

ESC = "\x1b"
MAC = "52:54:00:aa:00:01"


@dataclass
class RestAgent:
    """The machine's agent, speaking the protocol's REST transport to the live server."""

    base: str
    http: requests.Session
    worker_id: str
    token: AgentToken

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        response = self.http.post(self.base + path, json=body, timeout=10)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def hello(self) -> None:
        self.post("/api/v1/agent/hello/", {"worker_id": self.worker_id, "hardware": {}})

    def next_action(self) -> dict[str, Any]:
        response = self.http.get(self.base + "/api/v1/agent/next-action/", timeout=10)
        assert response.status_code == 200, response.text
        return dict(response.json()["action"])

    def report(self, action: Action, state: str, attempt: int = 1, **extra: Any) -> None:
        body = {"attempt": attempt, "state": state, **extra}
        self.post(f"/api/v1/agent/actions/{action.pk}/state/", body)

    def logs(
        self, action: Action, first_seq: int, lines: list[tuple[str, str]], attempt: int = 1
    ) -> int:
        body = {
            "attempt": attempt,
            "first_seq": first_seq,
            "lines": [{"stream": stream, "text": text} for stream, text in lines],
        }
        return int(self.post(f"/api/v1/agent/actions/{action.pk}/logs/", body)["acked_seq"])


def agent_on(server: AsgiLiveServer, machine: Any) -> RestAgent:
    token, raw = agent_token_issue(machine=machine, actor=Actor.system("tests"))
    http = requests.Session()
    http.headers["Authorization"] = f"Bearer {raw}"
    agent = RestAgent(base=server.url, http=http, worker_id=MAC, token=token)
    agent.hello()
    return agent


def two_action_workflow() -> tuple[Workflow, Action, Action]:
    machine = make_machine("node-a", MAC)
    template = template_services.template_create(
        actor=Actor.system("tests"), name="two-steps", body=TWO_ACTIONS
    )
    workflow = workflow_create(template=template, machine=machine, actor=Actor.system("tests"))
    first, second = Action.objects.filter(task__workflow=workflow).order_by("order")
    return workflow, first, second


def watch(page: Page, server: AsgiLiveServer, user: Any, workflow: Workflow) -> Page:
    sign_in_page(page, server, user)
    page.goto(f"{server.url}/workflows/{workflow.pk}/")
    expect(page.locator("#live-status")).to_have_text("Live")
    # Anything that reloads the page drops this marker.
    page.evaluate("window.rpSameDocument = true")
    return page


def terminal(page: Page, action: Action) -> list[str] | None:
    return page.evaluate("id => window.rackpilotLiveLog.terminalLines(id)", action.pk)


def expect_terminal(page: Page, action: Action, lines: list[str]) -> None:
    """Wait until the action's terminal holds exactly ``lines``, then compare (for the diff)."""
    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(
            "([id, want]) => JSON.stringify(window.rackpilotLiveLog.terminalLines(id))"
            " === JSON.stringify(want)",
            arg=[action.pk, lines],
            timeout=8_000,
        )
    assert terminal(page, action) == lines


def info(page: Page, action: Action) -> dict[str, Any]:
    return dict(page.evaluate("id => window.rackpilotLiveLog.info(id)", action.pk))


def stats(page: Page) -> dict[str, int]:
    return dict(page.evaluate("window.rackpilotLiveLog.stats"))


def cell(page: Page, action: Action, line: int, column: int) -> dict[str, Any]:
    return dict(
        page.evaluate(
            "([id, line, column]) => window.rackpilotLiveLog.cell(id, line, column)",
            [action.pk, line, column],
        )
    )


def badge(page: Page, action: Action) -> Any:
    return page.locator(f'tr[data-action-id="{action.pk}"] .rp-badge')


def panel(page: Page, action: Action) -> Any:
    return page.locator(f"#action-log-{action.pk} .rp-log")


FIRST_BATCH = [
    ("stdout", f"{ESC}[32mPulling{ESC}[0m 127.0.0.1:5000/actions/image2disk:v1"),
    ("stderr", "warning: registry mirror is slow"),
    ("stdout", f"{ESC}[1;34mWriting{ESC}[0m image to /dev/nvme0n1"),
]
FIRST_TEXT = [
    "Pulling 127.0.0.1:5000/actions/image2disk:v1",
    "warning: registry mirror is slow",
    "Writing image to /dev/nvme0n1",
]
PROGRESS = [f"written {n} MiB ({n}%)" for n in (10, 50, 100)]


def test_lines_and_states_arrive_live_and_the_backlog_matches_after_reload(
    page: Page, asgi_live_server: AsgiLiveServer, operator: Any, screenshot: Any
):
    workflow, first, second = two_action_workflow()
    page = watch(page, asgi_live_server, operator, workflow)
    page.evaluate(
        "window.rpSwaps = 0;"
        " document.body.addEventListener('htmx:afterSettle', () => { window.rpSwaps += 1; })"
    )
    # before the agent starts, nothing runs and there is no log to show
    expect(badge(page, first)).to_have_text("Pending")
    expect(page.locator(f"#action-log-{first.pk}")).to_be_hidden()
    agent = agent_on(asgi_live_server, first.task.workflow.machine)
    assert agent.next_action()["action"] == first.pk

    # when the agent starts the first action
    agent.report(first, "running")

    # then the page says so and opens its log, without a reload
    expect(badge(page, first)).to_have_text("Running")
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Running")
    expect(panel(page, first)).to_have_class("rp-log is-open")
    expect(page.locator(f'tr[data-action-id="{first.pk}"] [data-rp-started] time')).to_be_visible()

    # when it uploads lines with colours, on stdout and stderr
    assert agent.logs(first, 1, FIRST_BATCH) == 3

    # then they are in the terminal, in order, while the action is still running
    expect_terminal(page, first, FIRST_TEXT)
    assert Action.objects.get(pk=first.pk).state == "running"
    green = cell(page, first, 0, 0)
    assert green["chars"] == "P"
    assert (green["palette"], green["fg"]) == (True, 2)
    after_colour = cell(page, first, 0, len("Pulling "))
    assert after_colour["palette"] is False  # the agent's reset ends the colour
    red = cell(page, first, 1, 0)
    assert (red["palette"], red["fg"]) == (True, 1)  # an uncoloured stderr line is red
    expect(panel(page, first).locator(".rp-log-count")).to_have_text("3 lines")
    expect(panel(page, first).locator(".rp-log-stderr")).to_have_text("1 stderr line")

    # when the agent resends batches after a reconnect of its own, overlapping what is stored
    assert agent.logs(first, 4, [("stdout", PROGRESS[0]), ("stdout", PROGRESS[1])]) == 5
    assert agent.logs(first, 1, FIRST_BATCH) == 5
    assert agent.logs(first, 5, [("stdout", PROGRESS[1]), ("stdout", PROGRESS[2])]) == 6

    # then every line is shown once
    expect_terminal(page, first, FIRST_TEXT + PROGRESS)
    # and a frame the page already has, delivered again, changes nothing
    page.evaluate(
        "frame => window.rackpilotLiveLog.receive(frame)",
        {
            "type": "lines",
            "action": first.pk,
            "attempt": 1,
            "first_seq": 2,
            "lines": [
                {"seq": 2, "stream": "stderr", "ts": "2026-01-01T00:00:00Z", "text": "again"},
                {"seq": 3, "stream": "stdout", "ts": "2026-01-01T00:00:00Z", "text": "again"},
            ],
        },
    )
    assert terminal(page, first) == FIRST_TEXT + PROGRESS
    assert info(page, first)["seq"] == 6
    assert stats(page)["duplicates"] >= 2

    # and the 3 s refresh of the tasks table leaves the terminal as it was
    page.wait_for_function("window.rpSwaps >= 1", timeout=8_000)
    assert terminal(page, first) == FIRST_TEXT + PROGRESS
    expect(panel(page, first).locator(".xterm-rows")).to_contain_text("written 100 MiB (100%)")
    expect(badge(page, first)).to_have_text("Running")
    screenshot("live-log-running")

    # when the first action succeeds and the second one runs
    agent.report(first, "success", exit_code=0)
    expect(badge(page, first)).to_have_text("Success")
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Running")
    assert agent.next_action()["action"] == second.pk
    agent.report(second, "running")
    agent.logs(second, 1, [("system", "kexec into the installed kernel")])

    # then the second log opens and the first one closes
    expect(panel(page, second)).to_have_class("rp-log is-open")
    expect(panel(page, first)).to_have_class("rp-log")
    expect_terminal(page, second, ["kexec into the installed kernel"])

    # when the workflow ends
    agent.report(second, "success", exit_code=0)
    expect(badge(page, second)).to_have_text("Success")
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Success")
    # and the blocks the server renders follow at once: Re-run instead of Cancel
    expect(page.get_by_role("button", name="Re-run")).to_be_visible()
    expect(page.get_by_role("button", name="Cancel")).to_have_count(0)
    assert page.evaluate("window.rpSameDocument") is True
    screenshot("live-log-success")

    # after a reload, the backlog shows the same lines; finished logs start closed
    page.reload()
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(page.locator(f"#action-log-{first.pk}")).to_be_visible()
    expect(panel(page, first)).to_have_class("rp-log")
    expect(panel(page, first).locator(".rp-log-count")).to_have_text("6 lines")
    panel(page, first).locator(".rp-log-toggle").click()
    expect_terminal(page, first, FIRST_TEXT + PROGRESS)
    assert cell(page, first, 0, 0)["fg"] == 2
    download = panel(page, first).locator("a[download]")
    assert download.get_attribute("href") == f"/api/v1/actions/{first.pk}/logs.txt"
    screenshot("live-log-reloaded")


def test_search_follow_and_timestamps(
    page: Page, asgi_live_server: AsgiLiveServer, operator: Any, screenshot: Any
):
    workflow, first, _ = two_action_workflow()
    page = watch(page, asgi_live_server, operator, workflow)
    agent = agent_on(asgi_live_server, workflow.machine)
    agent.report(first, "running")
    sector = {n: "RETRY" if n % 25 == 0 else "ok" for n in range(1, 121)}
    lines = [("stdout", f"line {n:03d}: sector {state}") for n, state in sector.items()]
    agent.logs(first, 1, lines)
    expect(panel(page, first).locator(".rp-log-count")).to_have_text("120 lines")
    log = panel(page, first)
    # xterm's search addon runs the search again 200 ms after the terminal last changed; let
    # the 120 lines settle first, or that re-run can undo a step taken in between.
    expect(log.locator(".xterm-rows")).to_contain_text("line 120: sector ok")
    page.wait_for_timeout(400)

    # searching highlights the matches and steps through them
    log.locator("input[type=search]").fill("RETRY")
    expect(log.locator(".rp-log-hits")).to_have_text("1/4")
    log.locator("input[type=search]").press("Enter")
    expect(log.locator(".rp-log-hits")).to_have_text("2/4")
    log.get_by_role("button", name="Previous match").click()
    expect(log.locator(".rp-log-hits")).to_have_text("1/4")
    # a match above the end pauses following, so new lines do not scroll it away
    expect(log.locator(".rp-log-follow")).to_have_attribute("aria-pressed", "false")
    screenshot("live-log-search")
    agent.logs(first, 121, [("stdout", "line 121: sector ok")])
    expect(log.locator(".rp-log-count")).to_have_text("121 lines")
    assert info(page, first)["following"] is False

    # Follow jumps back to the newest line and keeps it in view
    log.locator(".rp-log-follow").click()
    expect(log.locator(".rp-log-follow")).to_have_attribute("aria-pressed", "true")
    expect(log.locator(".xterm-rows")).to_contain_text("line 121: sector ok")
    agent.logs(first, 122, [("stdout", "line 122: sector ok")])
    expect(log.locator(".xterm-rows")).to_contain_text("line 122: sector ok")

    # the running action's duration ticks by itself
    duration = page.locator(f'tr[data-action-id="{first.pk}"] [data-rp-duration]')
    expect(duration).to_have_text(re.compile(r"^[1-9]\d* s$"), timeout=5_000)

    # timestamps are written in front of every line on demand
    log.locator("button[title='Show timestamps']").click()
    page.wait_for_function(
        "id => /^\\d\\d:\\d\\d:\\d\\d line 001/.test(window.rackpilotLiveLog.terminalLines(id)[0])",
        arg=first.pk,
    )
    screenshot("live-log-timestamps", full_page=False)


def test_lost_frames_are_fetched_and_a_server_restart_loses_and_doubles_nothing(
    page: Page, asgi_live_server: AsgiLiveServer, operator: Any, screenshot: Any
):
    workflow, first, _ = two_action_workflow()
    # The page's socket goes through a proxy that can lose one frame from the server.
    lose_next_lines = {"armed": False, "lost": 0}

    def proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            if frame.get("type") == "lines" and lose_next_lines["armed"]:
                lose_next_lines.update(armed=False, lost=lose_next_lines["lost"] + 1)
                return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(f"{asgi_live_server.ws_url}/ws/workflows/{workflow.pk}/", proxy)
    page = watch(page, asgi_live_server, operator, workflow)
    agent = agent_on(asgi_live_server, workflow.machine)
    agent.report(first, "running")
    texts = [f"step {n}" for n in range(1, 13)]
    agent.logs(first, 1, [("stdout", t) for t in texts[0:3]])
    expect_terminal(page, first, texts[0:3])

    # when the frame with lines 4-5 is lost on the way
    lose_next_lines["armed"] = True
    agent.logs(first, 4, [("stdout", t) for t in texts[3:5]])
    page.wait_for_function("() => true")  # lets the proxy handle the frame
    expect_terminal(page, first, texts[0:3])
    # then the next frame shows the gap, and the page fetches what it lacks
    agent.logs(first, 6, [("stdout", t) for t in texts[5:7]])
    expect_terminal(page, first, texts[0:7])
    assert lose_next_lines["lost"] == 1
    assert stats(page)["gaps"] == 1
    assert stats(page)["fetches"] >= 1

    # when the server goes away mid-stream and lines are stored meanwhile
    asgi_live_server.stop()
    expect(page.locator("#live-status")).to_have_text("Reconnecting…")
    agent_upload_logs(
        token=agent.token,
        action_id=first.pk,
        attempt=1,
        first_seq=8,
        lines=[{"stream": "stdout", "text": t} for t in texts[7:10]],
    )
    screenshot("live-log-reconnecting", full_page=False)
    asgi_live_server.start()

    # then the page reconnects, resumes from its cursor, and has each line exactly once
    expect(page.locator("#live-status")).to_have_text("Live", timeout=20_000)
    expect_terminal(page, first, texts[0:10])
    agent.logs(first, 11, [("stdout", t) for t in texts[10:12]])
    expect_terminal(page, first, texts)
    assert stats(page)["connects"] == 2
    assert page.evaluate("window.rpSameDocument") is True


def test_a_lost_last_frame_and_a_lost_state_come_with_the_next_tip(
    page: Page, asgi_live_server: AsgiLiveServer, operator: Any
):
    """No later frame shows the gap when the last lines of an action and its end are lost: the
    socket's tip (every LOG_VIEWER_TIP_SECONDS, 3 s) does, and the page fetches the lines."""
    workflow, first, _ = two_action_workflow()
    lost: list[str] = []

    def proxy(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message)
            last_lines = frame.get("type") == "lines" and frame.get("first_seq") == 4
            end = frame.get("type") == "state" and (frame.get("action") or {}).get("state")
            if (last_lines and "lines" not in lost) or (end == "success" and "state" not in lost):
                lost.append(frame["type"])
                return
            ws.send(message)

        server.on_message(from_server)

    page.route_web_socket(f"{asgi_live_server.ws_url}/ws/workflows/{workflow.pk}/", proxy)
    page = watch(page, asgi_live_server, operator, workflow)
    agent = agent_on(asgi_live_server, workflow.machine)
    agent.report(first, "running")
    texts = [f"step {n}" for n in range(1, 6)]
    agent.logs(first, 1, [("stdout", t) for t in texts[0:3]])
    expect_terminal(page, first, texts[0:3])

    # when the action's last lines and its success are lost on the way
    agent.logs(first, 4, [("stdout", t) for t in texts[3:5]])
    agent.report(first, "success", exit_code=0)

    # then within a tip the page shows both, fetched, without a reconnect
    expect(badge(page, first)).to_have_text("Success", timeout=8_000)
    expect_terminal(page, first, texts)
    assert sorted(lost) == ["lines", "state"]
    assert stats(page)["tips"] >= 1 and stats(page)["fetches"] >= 1
    assert stats(page)["connects"] == 1


def test_swaps_of_other_parts_of_the_page_keep_the_one_subscription(
    page: Page, asgi_live_server: AsgiLiveServer, operator: Any
):
    """Any HTMX swap (the phases card loading, the tasks table refreshing) runs the page's
    after-swap check, also while the snapshot is on its way; a socket takes one subscribe, so
    none of them may send a second."""
    workflow, _first, _second = two_action_workflow()
    held: list[tuple[WebSocketRoute, str | bytes]] = []

    def hold_the_snapshot(ws: WebSocketRoute) -> None:
        server = ws.connect_to_server()
        server.on_message(lambda message: held.append((ws, message)))

    page.route_web_socket(
        f"{asgi_live_server.ws_url}/ws/workflows/{workflow.pk}/", hold_the_snapshot
    )
    sign_in_page(page, asgi_live_server, operator)
    page.goto(f"{asgi_live_server.url}/workflows/{workflow.pk}/")
    for _ in range(100):  # the page has subscribed once the server's snapshot is held
        if held:
            break
        page.wait_for_timeout(100)
    assert held, "no snapshot came"
    page.locator("#workflow-phases").wait_for(state="attached")
    for _ in range(2):
        page.evaluate(
            "htmx.ajax('GET', location.pathname + 'phases/', "
            "{target: '#workflow-phases', swap: 'outerHTML'})"
        )
        page.locator("#workflow-phases").wait_for(state="attached")
    page.wait_for_timeout(500)
    for ws, message in held:
        ws.send(message)

    expect(page.locator("#live-status")).to_have_text("Live")
    assert stats(page)["connects"] == 1


def test_a_retry_starts_the_new_attempt_in_a_clean_terminal(
    page: Page, asgi_live_server: AsgiLiveServer, operator: Any, screenshot: Any
):
    workflow, first, _ = two_action_workflow()
    page = watch(page, asgi_live_server, operator, workflow)
    agent = agent_on(asgi_live_server, workflow.machine)
    agent.report(first, "running")
    agent.logs(first, 1, [("stdout", "attempt one"), ("stderr", "error: short read")])
    expect_terminal(page, first, ["attempt one", "error: short read"])
    agent.report(first, "failed", exit_code=2, message="short read")
    expect(badge(page, first)).to_have_text("Failed")
    expect(page.locator(f'tr[data-action-id="{first.pk}"] [data-rp-exit]')).to_have_text("2")
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Failed")

    # a page opened now shows the failed action's log open, from the backlog
    page.reload()
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(panel(page, first)).to_have_class("rp-log is-open")
    expect_terminal(page, first, ["attempt one", "error: short read"])
    # From here only the WebSocket may update the page: HTMX requests are refused.
    page.evaluate("document.body.addEventListener('htmx:beforeRequest', e => e.preventDefault())")

    # when an operator retries the workflow (elsewhere) and the agent runs attempt 2
    workflow = Workflow.objects.get(pk=workflow.pk)
    call_in_thread(workflow_retry, workflow=workflow, actor=Actor.system("tests"))
    expect(page.locator("#workflow-status .rp-badge")).to_have_text("Pending")
    expect(badge(page, first)).to_have_text("Pending")
    assignment = agent.next_action()
    assert (assignment["action"], assignment["attempt"]) == (first.pk, 2)
    agent.report(first, "running", attempt=2)
    agent.logs(first, 1, [("stdout", "attempt two")], attempt=2)

    # then the terminal holds the new attempt's lines only
    expect_terminal(page, first, ["attempt two"])
    assert info(page, first)["attempt"] == 2
    expect(badge(page, first)).to_have_text("Running")
    expect(page.locator(f'tr[data-action-id="{first.pk}"] [data-rp-attempt]')).to_have_text("2")
    expect(panel(page, first).locator(".rp-log-stderr")).to_be_hidden()

    # and a page opened now gets the new attempt's backlog only
    page.reload()
    expect(page.locator("#live-status")).to_have_text("Live")
    expect(panel(page, first)).to_have_class("rp-log is-open")
    expect_terminal(page, first, ["attempt two"])
    screenshot("live-log-retry", full_page=False)

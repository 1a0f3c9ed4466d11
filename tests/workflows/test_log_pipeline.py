"""Server side of the log pipeline: browser WebSocket, REST pages, downloads, retention."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission
from django.utils import timezone

from rackpilot.core.actors import Actor
from rackpilot.routing import browser_urlpatterns
from tests.factories import UserFactory
from tests.workflows.conftest import TWO_ACTIONS, agent_for, make_machine
from workflows.models import Action, LogLine, Workflow
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create
from workflows.services.logs import logs_prune

SYSTEM = Actor.system("tests")


def _first(workflow: Workflow) -> Action:
    return Action.objects.filter(task__workflow=workflow).order_by("order").first()


@pytest.mark.django_db
class TestRest:
    def test_cursor_pages_through_an_action_log(self, api, workflow, agent):
        action = _first(workflow)
        agent.logs(action.pk, 1, 1, [f"line {n}" for n in range(1, 26)])

        page = api.get(f"/api/v1/actions/{action.pk}/logs/?page_size=10").json()
        texts = [line["text"] for line in page["results"]]
        while page["next"]:
            page = api.get(page["next"]).json()
            texts += [line["text"] for line in page["results"]]

        assert texts == [f"line {n}" for n in range(1, 26)]

    def test_text_download_of_a_workflow(self, api, workflow, agent):
        action = _first(workflow)
        agent.client.post(
            f"/api/v1/agent/actions/{action.pk}/logs/",
            {
                "attempt": 1,
                "first_seq": 1,
                "lines": [
                    {"text": "\x1b[31mred\x1b[0m", "stream": "stdout"},
                    {"text": "oops", "stream": "stderr"},
                ],
            },
            format="json",
        )
        response = api.get(f"/api/v1/workflows/{workflow.pk}/logs.txt")
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/plain")
        body = b"".join(response.streaming_content).decode()
        assert "==> install / write-disk (attempt 1, pending)" in body
        assert "\x1b[31mred\x1b[0m\n" in body
        assert "[stderr] oops" in body
        assert "==> install / reboot" in body

    def test_logs_need_a_signed_in_user(self, anon_api, workflow):
        action = _first(workflow)
        assert anon_api.get(f"/api/v1/actions/{action.pk}/logs/").status_code in (401, 403)
        assert anon_api.get(f"/api/v1/workflows/{workflow.pk}/logs.txt").status_code in (401, 403)


@pytest.mark.django_db
def test_retention_prunes_only_old_finished_workflows(template, machine, other_machine):
    from workflows.services.engine import workflow_cancel

    old = workflow_create(template=template, machine=machine, actor=SYSTEM)
    agent_for(machine).logs(_first(old).pk, 1, 1, ["old"])
    workflow_cancel(workflow=old, actor=SYSTEM)
    Workflow.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=40))
    recent = workflow_create(template=template, machine=other_machine, actor=SYSTEM)
    agent_for(other_machine).logs(_first(recent).pk, 1, 1, ["recent"])

    assert logs_prune() == 1
    assert list(LogLine.objects.values_list("text", flat=True)) == ["recent"]


def _setup() -> tuple[Any, Workflow, Any]:
    machine = make_machine("viewer-node", "52:54:00:dd:00:01")
    template = template_services.template_create(actor=SYSTEM, name="v", body=TWO_ACTIONS)
    workflow = workflow_create(template=template, machine=machine, actor=SYSTEM)
    user = UserFactory()
    # Watching a workflow's socket takes the model's view permission.
    user.user_permissions.add(
        Permission.objects.get(codename="view_workflow", content_type__app_label="workflows")
    )
    return agent_for(machine), workflow, user


async def _browser(workflow_id: int, user: Any) -> WebsocketCommunicator:
    communicator = WebsocketCommunicator(
        URLRouter(browser_urlpatterns), f"/ws/workflows/{workflow_id}/"
    )
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _until(ws: WebsocketCommunicator, kind: str) -> list[dict[str, Any]]:
    frames = []
    while True:
        frame = await ws.receive_json_from(timeout=5)
        frames.append(frame)
        if frame["type"] == kind:
            return frames


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
class TestBrowserSocket:
    async def test_anonymous_is_refused(self):
        communicator = WebsocketCommunicator(URLRouter(browser_urlpatterns), "/ws/workflows/1/")
        communicator.scope["user"] = None
        connected, code = await communicator.connect()
        assert not connected
        assert code == 4403

    async def test_snapshot_backlog_then_live_lines_and_states(self):
        agent, workflow, user = await database_sync_to_async(_setup)()
        action = await database_sync_to_async(_first)(workflow)
        await database_sync_to_async(agent.report)(action.pk, 1, "running")
        await database_sync_to_async(agent.logs)(action.pk, 1, 1, ["one", "two"])

        ws = await _browser(workflow.pk, user)
        await ws.send_json_to({"type": "subscribe"})
        frames = await _until(ws, "backlog_done")
        assert frames[0]["type"] == "snapshot"
        assert frames[0]["actions"][0]["state"] == "running"
        backlog = [f for f in frames if f["type"] == "lines"]
        assert [line["text"] for line in backlog[0]["lines"]] == ["one", "two"]

        await database_sync_to_async(agent.logs)(action.pk, 1, 3, ["three", "four"])
        live = await ws.receive_json_from(timeout=5)
        assert live["type"] == "lines"
        assert live["first_seq"] == 3
        assert [(x["seq"], x["text"]) for x in live["lines"]] == [(3, "three"), (4, "four")]

        await database_sync_to_async(agent.report)(action.pk, 1, "success", exit_code=0)
        state = await ws.receive_json_from(timeout=5)
        assert state["type"] == "state"
        assert state["action"]["state"] == "success"
        assert state["action"]["log_seq"] == 4, "state frames tell how many lines are stored"
        await ws.disconnect()

    async def test_reconnect_with_cursors_gets_only_missing_lines_and_fetch_fills_gaps(self):
        agent, workflow, user = await database_sync_to_async(_setup)()
        action = await database_sync_to_async(_first)(workflow)
        await database_sync_to_async(agent.logs)(action.pk, 1, 1, [f"l{n}" for n in range(1, 11)])

        ws = await _browser(workflow.pk, user)
        await ws.send_json_to(
            {"type": "subscribe", "cursors": {str(action.pk): {"attempt": 1, "seq": 7}}}
        )
        frames = await _until(ws, "backlog_done")
        lines = [x["seq"] for f in frames if f["type"] == "lines" for x in f["lines"]]
        assert lines == [8, 9, 10]

        await ws.send_json_to(
            {"type": "fetch", "action": action.pk, "attempt": 1, "after_seq": 2, "until_seq": 4}
        )
        fetched = await ws.receive_json_from(timeout=5)
        assert [x["seq"] for x in fetched["lines"]] == [3, 4]
        await ws.disconnect()


@pytest.mark.django_db
def test_retention_prunes_a_backlog_larger_than_a_chunk(template, machine):
    """Lines are deleted by their (action, attempt, seq) key, a chunk at a time."""
    from workflows.logstore import LineRun, log_lines_insert
    from workflows.services.engine import workflow_cancel
    from workflows.services.logs import PRUNE_CHUNK

    old = workflow_create(template=template, machine=machine, actor=SYSTEM)
    action = _first(old)
    at = timezone.now()
    count = 2 * PRUNE_CHUNK + 5
    log_lines_insert([LineRun(action.pk, 1, 1, [("stdout", at, at.isoformat(), "x")] * count)])
    workflow_cancel(workflow=old, actor=SYSTEM)
    Workflow.objects.filter(pk=old.pk).update(finished_at=timezone.now() - timedelta(days=40))

    assert logs_prune() == count
    assert not LogLine.objects.exists()

"""Log batches of many agents stored together (``store_log_batches`` and the sockets' intake):
each batch is answered on its own, a group costs the same statements however many it holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from rackpilot.core import wire_json
from rackpilot.core.actors import Actor
from tests.workflows.conftest import agent_fleet, agent_socket
from workflows.agent_protocol.logs import LogBatch, store_log_batches
from workflows.agent_protocol.services import StaleReport
from workflows.agent_protocol.tokens import (
    AgentAuthenticationError,
    agent_token_revoke,
)
from workflows.models import Action, AgentToken, LogLine

SYSTEM = Actor.system("tests")


def _fleet(count: int, prefix: str = "grp") -> list[tuple[AgentToken, str, Action]]:
    """``count`` machines, each with a workflow and an agent token: (token, raw, first action)."""
    return [(t, r, actions[0]) for t, r, actions in agent_fleet(count, prefix, "52:54:00:f1")]


def _batch(token: AgentToken, raw: str, action: Action, first: int, texts: list[str]) -> LogBatch:
    lines = [{"stream": "stdout", "text": text} for text in texts]
    return LogBatch(
        token=token, raw_token=raw, action_id=action.pk, attempt=1, first_seq=first, lines=lines
    )


def _stored(action: Action) -> list[tuple[int, str]]:
    return list(LogLine.objects.filter(action=action).order_by("seq").values_list("seq", "text"))


@pytest.mark.django_db
def test_each_batch_of_a_group_is_answered_on_its_own():
    (a_token, a_raw, a_action), (b_token, b_raw, b_action), (c_token, c_raw, c_action) = _fleet(3)
    outcomes = store_log_batches(
        [
            _batch(a_token, a_raw, a_action, 1, ["a1", "a2"]),
            _batch(b_token, b_raw, b_action, 3, ["b3"]),  # a gap: b has nothing stored yet
            _batch(a_token, a_raw, a_action, 2, ["a2", "a3"]),  # the same action, in order
            _batch(c_token, c_raw, a_action, 1, ["not c's"]),  # another machine's action
            _batch(c_token, c_raw, c_action, 1, ["c1"]),
            _batch(c_token, "rpa_unknown", c_action, 2, ["c2"]),
        ]
    )
    assert outcomes[0] == {"action": a_action.pk, "attempt": 1, "acked_seq": 2}
    assert isinstance(outcomes[1], StaleReport) and "expected seq 1" in str(outcomes[1])
    assert outcomes[2] == {"action": a_action.pk, "attempt": 1, "acked_seq": 3}
    assert "another machine's agent" in str(outcomes[3])
    assert outcomes[4] == {"action": c_action.pk, "attempt": 1, "acked_seq": 1}
    assert isinstance(outcomes[5], AgentAuthenticationError)
    assert _stored(a_action) == [(1, "a1"), (2, "a2"), (3, "a3")]
    assert _stored(b_action) == []
    assert _stored(c_action) == [(1, "c1")]
    assert Action.objects.get(pk=a_action.pk).log_seq == 3


@pytest.mark.django_db
def test_a_group_costs_the_same_statements_whatever_its_size():
    fleet = _fleet(12)

    def statements(members: list[tuple[AgentToken, str, Action]], first: int) -> int:
        with CaptureQueriesContext(connection) as queries:
            outcomes = store_log_batches(
                [_batch(t, raw, action, first, [f"line {first}"]) for t, raw, action in members]
            )
        assert all(isinstance(outcome, dict) for outcome in outcomes), outcomes
        return len(queries)

    assert statements(fleet[:2], 1) == statements(fleet[2:], 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_sockets_sending_at_once_are_acknowledged_and_stored_once():
    fleet = await database_sync_to_async(_fleet)(20, "sock")
    revoked_token, _, revoked_action = fleet[-1]

    async def send_logs(ws: WebsocketCommunicator, action: Action) -> list[dict[str, Any]]:
        replies = []
        for round_ in range(5):
            await ws.send_json_to(
                {
                    "id": round_ + 1,
                    "type": "logs",
                    "action": action.pk,
                    "attempt": 1,
                    "first_seq": round_ * 2 + 1,
                    "lines": [{"text": f"{action.pk} {round_} {n}"} for n in range(2)],
                }
            )
            output = await ws.receive_output(timeout=5)
            if output["type"] == "websocket.close":
                replies.append({"closed": output["code"]})
                break
            replies.append(json.loads(output["text"]))
        await ws.disconnect()
        return replies

    # Connected one after the other; the batches then all at once. The last socket's token is
    # revoked while it is open.
    sockets = [await agent_socket(raw, action) for _, raw, action in fleet]
    await database_sync_to_async(agent_token_revoke)(token=revoked_token, actor=SYSTEM)
    answers = await asyncio.gather(
        *(send_logs(ws, action) for ws, (_, _, action) in zip(sockets, fleet, strict=True))
    )

    for (_, _, action), replies in zip(fleet[:-1], answers[:-1], strict=True):
        assert [reply["acked_seq"] for reply in replies] == [2, 4, 6, 8, 10]
        stored = await database_sync_to_async(_stored)(action)
        assert [seq for seq, _ in stored] == list(range(1, 11))
    # A revoked token's socket is closed; the others in its groups were not held up by it.
    assert answers[-1] == [{"closed": 4401}]
    assert await database_sync_to_async(_stored)(revoked_action) == []


@pytest.mark.django_db(transaction=True)
@pytest.mark.asyncio
async def test_frames_go_out_before_the_ack_and_the_next_group_is_stored_meanwhile(
    monkeypatch: pytest.MonkeyPatch,
):
    """A group's live frames are sent before its agents are answered; while they are on their
    way (held here for a moment), the next group is already stored."""
    from workflows.agent_protocol import intake

    fleet = await database_sync_to_async(_fleet)(2, "pipe")
    events: list[str] = []
    first_sending = asyncio.Event()
    release = asyncio.Event()
    send = intake.publish_collected

    async def held_publish(published: list[tuple[str, Any]]) -> None:
        frames = [wire_json.loads(m["frame"]) for _, m in published if m["type"] == "log.lines"]
        seqs = [frame["lines"][0]["seq"] for frame in frames]
        actions = {frame["action"] for frame in frames}
        events.append(f"sending {sorted(actions)} from seq {seqs}")
        if not first_sending.is_set():
            first_sending.set()
            await release.wait()
        await send(published)
        events.append(f"sent {sorted(actions)}")

    monkeypatch.setattr(intake, "publish_collected", held_publish)

    (_, raw_a, action_a), (_, raw_b, action_b) = fleet
    ws_a, ws_b = await agent_socket(raw_a, action_a), await agent_socket(raw_b, action_b)

    async def logs(ws: WebsocketCommunicator, action: Action, name: str) -> None:
        frame = {"id": 1, "type": "logs", "action": action.pk, "attempt": 1, "first_seq": 1}
        await ws.send_json_to({**frame, "lines": [{"text": f"{name} line"}]})
        reply = await ws.receive_json_from(timeout=10)
        assert reply["type"] == "logs_ack" and reply["acked_seq"] == 1
        events.append(f"acked {action.pk}")

    agent_a = asyncio.create_task(logs(ws_a, action_a, "a"))
    await asyncio.wait_for(first_sending.wait(), 10)  # A's lines are stored, its frames held
    agent_b = asyncio.create_task(logs(ws_b, action_b, "b"))
    for _ in range(100):  # B's batch, the next group, is stored while A's frames wait
        # SQLite's shared test database refuses a read while the writer's transaction holds
        # the table: asked again.
        with contextlib.suppress(OperationalError):
            if await database_sync_to_async(_stored)(action_b):
                break
        await asyncio.sleep(0.05)
    assert await database_sync_to_async(_stored)(action_b) == [(1, "b line")]
    assert events == [f"sending [{action_a.pk}] from seq [1]"]  # nobody answered yet
    release.set()
    await asyncio.wait_for(asyncio.gather(agent_a, agent_b), 10)
    await ws_a.disconnect()
    await ws_b.disconnect()
    # Each group's frames were out before its agent's answer, and A's group went out first.
    assert events.index(f"sent [{action_a.pk}]") < events.index(f"acked {action_a.pk}")
    assert events.index(f"sent [{action_b.pk}]") < events.index(f"acked {action_b.pk}")
    assert events.index(f"sent [{action_a.pk}]") < events.index(
        f"sending [{action_b.pk}] from seq [1]"
    )

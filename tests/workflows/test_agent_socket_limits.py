"""``/ws/agent/`` limits: frame size, malformed frames, and a frame rate per connection."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.conf import settings as django_settings
from rackpilot_agent.logstream import MAX_LINE_BYTES, ActionLog, LogSender
from rackpilot_agent.spool import Spool

from rackpilot.core.actors import Actor
from rackpilot.routing import websocket_application
from tests.workflows.conftest import TWO_ACTIONS, make_machine
from workflows.agent_protocol.tokens import agent_token_issue
from workflows.models import LogLine
from workflows.services import templates as template_services
from workflows.services.engine import workflow_create

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]
SYSTEM = Actor.system("tests")
FLOOD = 10_000


def _agent(hostname: str, mac: str, *, with_workflow: bool = False) -> str:
    machine = make_machine(hostname, mac)
    if with_workflow:
        template = template_services.template_create(actor=SYSTEM, name=hostname, body=TWO_ACTIONS)
        workflow_create(template=template, machine=machine, actor=SYSTEM)
    return agent_token_issue(machine=machine, actor=SYSTEM)[1]


async def _connected(raw: str) -> WebsocketCommunicator:
    ws = WebsocketCommunicator(
        websocket_application, "/ws/agent/", headers=[(b"authorization", f"Bearer {raw}".encode())]
    )
    assert (await ws.connect())[0]
    return ws


async def _request(ws: WebsocketCommunicator, message: dict[str, Any]) -> dict[str, Any]:
    await ws.send_json_to(message)
    while True:
        reply = await ws.receive_json_from(timeout=10)
        if reply.get("reply_to") == message.get("id"):
            return reply


async def _hello(ws: WebsocketCommunicator, mac: str) -> None:
    welcome = await _request(ws, {"id": "hello", "type": "hello", "worker_id": mac})
    assert welcome["type"] == "welcome", welcome


async def _closed(ws: WebsocketCommunicator) -> tuple[dict[str, Any], int]:
    """The close message, and how many frames were sent before it."""
    frames = 0
    while True:
        output = await ws.receive_output(timeout=10)
        if output["type"] == "websocket.close":
            return output, frames
        frames += 1


# --- frame size ------------------------------------------------------------------------------


async def test_a_frame_over_the_byte_limit_is_closed_with_1009(settings: Any) -> None:
    settings.AGENT_MAX_FRAME_BYTES = 1000
    raw = await database_sync_to_async(_agent)("big-a", "52:54:00:e1:00:01")
    ws = await _connected(raw)
    # 498 characters, but 996 bytes of UTF-8 plus the quotes and the brackets: 1000 exactly
    at_limit = json.dumps(["é" * 498], ensure_ascii=False)
    assert len(at_limit.encode()) == 1000
    await ws.send_to(text_data=at_limit)
    assert (await ws.receive_json_from(timeout=5))["code"] == "invalid"  # read, not refused

    over = json.dumps(["é" * 499], ensure_ascii=False)  # 999 characters would pass a char count
    await ws.send_to(text_data=over)
    closed = await ws.receive_output(timeout=5)
    assert closed == {"type": "websocket.close", "code": 1009, "reason": "frame over 1000 bytes"}
    # and nothing queued behind it is handled any more
    await ws.send_json_to({"id": 1, "type": "hello", "worker_id": "52:54:00:e1:00:01"})
    assert await ws.receive_nothing(timeout=0.3)


async def test_every_log_batch_the_agent_builds_fits_the_default_limit(
    tmp_path: Path,
) -> None:
    """The agent's own batching, fed the worst cases for JSON: characters outside the BMP (one
    character, 12 bytes once escaped), control characters (6 bytes), and many short non-ASCII
    lines that batch together."""
    raw = await database_sync_to_async(_agent)("big-b", "52:54:00:e1:00:02", with_workflow=True)
    ws = await _connected(raw)
    await _hello(ws, "52:54:00:e1:00:02")
    action = (await _request(ws, {"id": 1, "type": "next_action"}))["action"]
    running = {"id": 2, "type": "action_state", "state": "running"}
    await _request(ws, {**running, "action": action["action"], "attempt": 1})

    action_log = ActionLog(Spool(tmp_path, cap_bytes=64 << 20), action=action["action"], attempt=1)
    for _ in range(20):
        action_log.write("stdout", "\U0001f680" * (MAX_LINE_BYTES // 4))  # 64 KiB of UTF-8
        action_log.write("stderr", "\x01" * MAX_LINE_BYTES)
    for n in range(400):
        action_log.write("stdout", f"{n} " + "é\x1b[0m" * 40)
    frames: list[str] = []
    lines_per_frame: list[int] = []

    async def send(frame: dict[str, Any]) -> dict[str, Any]:
        # As the agent's connection sends it (json.dumps, ASCII-escaped), through the consumer.
        text = json.dumps({**frame, "id": len(frames) + 10})
        frames.append(text)
        lines_per_frame.append(len(frame["lines"]))
        await ws.send_to(text_data=text)
        reply = await ws.receive_json_from(timeout=60)
        assert reply["type"] == "logs_ack", reply
        return reply

    sender = LogSender(action_log, send)
    sender.start()
    assert await sender.drain()
    await sender.stop()

    assert max(len(text.encode()) for text in frames) <= django_settings.AGENT_MAX_FRAME_BYTES
    assert max(lines_per_frame) > 1, "lines were batched"
    stored = await database_sync_to_async(
        LogLine.objects.filter(action_id=action["action"]).count
    )()
    assert stored == action_log.last_seq >= 440
    await ws.disconnect()


# --- malformed frames ------------------------------------------------------------------------


async def test_a_binary_frame_is_closed_with_1003() -> None:
    raw = await database_sync_to_async(_agent)("bad-a", "52:54:00:e2:00:01")
    ws = await _connected(raw)
    await ws.send_to(bytes_data=b'{"type": "hello"}')
    closed = await ws.receive_output(timeout=5)
    assert closed["code"] == 1003
    assert "binary" in closed["reason"]


@pytest.mark.parametrize("text", ["{not json", "", '{"type": "hello"', "[" * 100_000])
async def test_text_that_is_not_json_is_closed_with_1007(text: str) -> None:
    raw = await database_sync_to_async(_agent)("bad-b", "52:54:00:e2:00:02")
    ws = await _connected(raw)
    await ws.send_input({"type": "websocket.receive", "text": text})  # send_to refuses ""
    closed = await ws.receive_output(timeout=5)
    assert closed["code"] == 1007
    assert closed["reason"].startswith("frame is not JSON: ")
    assert len(closed["reason"].encode()) <= 123


@pytest.mark.parametrize(
    ("frame", "code", "detail"),
    [
        ([1, 2], "invalid", "expected an object"),
        ({"id": 7}, "invalid", {"type": ["required: the message type"]}),
        ({"id": 7, "type": ""}, "invalid", {"type": ["required: the message type"]}),
        ({"id": 7, "type": 5}, "invalid", {"type": ["expected a string: the message type"]}),
        ({"id": 7, "type": "reboot"}, "unknown_type", "unknown message type 'reboot'"),
    ],
)
async def test_a_malformed_message_gets_an_error_naming_the_problem(
    frame: Any, code: str, detail: Any
) -> None:
    raw = await database_sync_to_async(_agent)("bad-c", "52:54:00:e2:00:03")
    ws = await _connected(raw)
    await ws.send_json_to(frame)
    reply = await ws.receive_json_from(timeout=5)
    assert (reply["type"], reply["status"], reply["code"], reply["detail"]) == (
        "error",
        400,
        code,
        detail,
    )
    if isinstance(frame, dict):
        assert reply["reply_to"] == 7
    # the socket stays usable
    await _hello(ws, "52:54:00:e2:00:03")
    await ws.disconnect()


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"type": "hello"}, "worker_id"),
        ({"type": "action_state", "attempt": 1, "state": "running"}, "action"),
        ({"type": "action_state", "action": 1, "attempt": "one", "state": "running"}, "attempt"),
        ({"type": "logs", "action": 1, "attempt": 1, "first_seq": 1}, "lines"),
        ({"type": "logs", "action": 1, "attempt": 1, "lines": []}, "first_seq"),
    ],
)
async def test_a_message_missing_a_field_gets_an_error_naming_the_field(
    message: dict[str, Any], field: str
) -> None:
    raw = await database_sync_to_async(_agent)("bad-d", "52:54:00:e2:00:04")
    ws = await _connected(raw)
    if message["type"] != "hello":
        await _hello(ws, "52:54:00:e2:00:04")
    reply = await _request(ws, {**message, "id": 9})
    assert (reply["type"], reply["code"]) == ("error", "invalid"), reply
    assert field in reply["detail"], reply
    await ws.disconnect()


# --- frame rate ------------------------------------------------------------------------------


def _replies(ws: WebsocketCommunicator) -> int:
    return ws.output_queue.qsize()


async def test_a_flooding_agent_is_throttled_and_the_others_are_not(settings: Any) -> None:
    settings.AGENT_FRAMES_PER_SECOND = 50
    settings.AGENT_FRAME_BURST = 10
    settings.AGENT_FRAME_THROTTLE_CLOSE_SECONDS = 0  # this test is about slowing, not closing
    flood_raw = await database_sync_to_async(_agent)("flood", "52:54:00:e3:00:01")
    calm_raw = await database_sync_to_async(_agent)("calm", "52:54:00:e3:00:02")
    flood = await _connected(flood_raw)
    calm = await _connected(calm_raw)
    await _hello(calm, "52:54:00:e3:00:02")
    await _hello(flood, "52:54:00:e3:00:01")

    # when one agent sends 10,000 frames as fast as it can, without waiting for answers
    async def flood_send() -> float:
        for n in range(FLOOD):
            await flood.send_json_to({"id": n, "type": "next_action"})
            if n % 50 == 0:
                await asyncio.sleep(0)  # as a socket would: the server reads while it sends
        return time.monotonic()

    started = time.monotonic()
    flooding = asyncio.create_task(flood_send())
    # then the other agent's requests are answered, each in its turn, meanwhile
    for n in range(5):
        reply = await _request(calm, {"id": n, "type": "next_action"})
        assert reply["type"] == "no_work"
    assert _replies(flood) < FLOOD, "the other agent's answers came before the flood's"
    sent_at = await flooding

    # and the flood is handled at its rate, no faster: not all of it by the time it was sent,
    # nor later
    for checked_at in (sent_at, sent_at + 0.5):
        await asyncio.sleep(max(0.0, checked_at - time.monotonic()))
        elapsed = time.monotonic() - started
        handled = _replies(flood)
        allowed = settings.AGENT_FRAME_BURST + settings.AGENT_FRAMES_PER_SECOND * elapsed + 1
        assert handled <= allowed, (handled, allowed, sent_at - started)
    assert handled < FLOOD
    # and what it was answered is correct, in order
    answers = [await flood.receive_json_from(timeout=5) for _ in range(min(handled, 5))]
    assert [a["reply_to"] for a in answers] == list(range(len(answers)))
    assert {a["type"] for a in answers} == {"no_work"}
    await flood.disconnect(timeout=0.5)
    await calm.disconnect()


async def test_an_agent_that_stays_over_the_rate_is_closed_with_4008(settings: Any) -> None:
    settings.AGENT_FRAMES_PER_SECOND = 20
    settings.AGENT_FRAME_BURST = 5
    settings.AGENT_FRAME_THROTTLE_CLOSE_SECONDS = 0.3
    raw = await database_sync_to_async(_agent)("abuser", "52:54:00:e3:00:03")
    ws = await _connected(raw)
    await _hello(ws, "52:54:00:e3:00:03")
    started = time.monotonic()
    for n in range(1000):
        await ws.send_json_to({"id": n, "type": "next_action"})

    closed, answered = await _closed(ws)
    elapsed = time.monotonic() - started

    assert closed["code"] == 4008
    assert closed["reason"] == "over 20 frames/s for 0.3 s"
    # it was throttled until then (the burst, then 20 a second), and the rest was dropped
    assert answered <= settings.AGENT_FRAME_BURST + settings.AGENT_FRAMES_PER_SECOND * elapsed
    assert answered < 1000
    assert await ws.receive_nothing(timeout=0.3)
    await ws.disconnect()


async def test_a_burst_within_the_bucket_is_not_slowed(settings: Any) -> None:
    settings.AGENT_FRAMES_PER_SECOND = 1  # a second per frame once the bucket is empty
    settings.AGENT_FRAME_BURST = 20
    raw = await database_sync_to_async(_agent)("bursty", "52:54:00:e3:00:04")
    ws = await _connected(raw)
    await _hello(ws, "52:54:00:e3:00:04")
    for n in range(15):
        await ws.send_json_to({"id": n, "type": "next_action"})
    # 15 answers well within the second the next token would take
    async with asyncio.timeout(0.9 * 15):
        answers = [await ws.receive_json_from(timeout=5) for _ in range(15)]
    assert [a["reply_to"] for a in answers] == list(range(15))
    await ws.disconnect()

"""Log batches are sized in the bytes of the frame as the agent sends it, not in characters.

The connection sends ``json.dumps({**frame, "id": n})`` with the default ``ensure_ascii``:
an emoji costs 12 bytes there, a CJK character or a control character 6. Each test writes
such lines, lets the real sender batch them, and measures every frame encoded that way.
"""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
from rackpilot_agent.logstream import (
    BATCH_BYTES,
    MAX_LINE_WIRE_BYTES,
    MIN_BATCH_BYTES,
    ActionLog,
    LogSender,
    ServerError,
)
from rackpilot_agent.spool import Spool

# The largest request id a connection could put in the frame.
LARGEST_ID = 2**63


def encoded_size(frame: dict[str, Any]) -> int:
    """The frame's bytes on the socket, encoded exactly as the connection encodes requests."""
    return len(json.dumps({**frame, "id": LARGEST_ID}).encode("utf-8"))


class Server:
    """Stores every line once, in seq order, and records each frame's size on the wire."""

    def __init__(self) -> None:
        self.sizes: list[int] = []
        self.texts: list[str] = []
        self.script: list[ServerError] = []

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.sizes.append(encoded_size(frame))
        if self.script:
            raise self.script.pop(0)
        first = frame["first_seq"]
        assert first == len(self.texts) + 1, "a gap or a resend"
        self.texts.extend(line["text"] for line in frame["lines"])
        return {"type": "logs_ack", "acked_seq": len(self.texts)}


@pytest.fixture
def action_log(tmp_path: Path) -> ActionLog:
    return ActionLog(Spool(tmp_path / "spool", cap_bytes=64 << 20), action=31, attempt=1)


def ship(action_log: ActionLog, server: Server, texts: list[str]) -> None:
    async def scenario() -> None:
        sender = LogSender(action_log, server.send, interval=0.01)
        sender.start()
        for text in texts:
            action_log.write("stdout", text)
        assert await sender.drain()
        await sender.stop()

    asyncio.run(scenario())


@pytest.mark.parametrize(
    "char",
    [
        pytest.param("🚀", id="4-byte-utf8"),
        pytest.param("漢", id="cjk"),
        pytest.param("\x01", id="control-escaped-as-uXXXX"),
    ],
)
def test_no_frame_is_larger_than_the_batch_limit_and_no_line_is_lost(
    action_log: ActionLog, char: str
) -> None:
    # given 1,500 lines of 2,000 characters that JSON escapes to 6 or 12 bytes each
    texts = [f"{index:04d} " + char * 2000 for index in range(1500)]
    server = Server()

    # when the sender ships them
    ship(action_log, server, texts)

    # then every frame as sent fits the limit, every line arrived once and in order
    assert max(server.sizes) <= BATCH_BYTES
    assert server.texts == texts
    # and the batches are filled by the exact size, not by a guess far on the safe side
    line_size = len(json.dumps(texts[0])) + 100
    assert min(server.sizes[:-1]) > BATCH_BYTES - line_size


def test_a_line_longer_than_a_frame_once_escaped_is_split_and_nothing_is_lost(
    action_log: ActionLog,
) -> None:
    # given one 64 KiB line of escape characters: 384 KiB of \u001b once escaped
    text = "\x1b[0m" + "\x1b" * (64 * 1024 - 4)
    server = Server()

    ship(action_log, server, [text, "after"])

    assert max(server.sizes) <= BATCH_BYTES
    *pieces, last = server.texts
    assert len(pieces) > 1
    assert all(len(json.dumps(piece)) <= MAX_LINE_WIRE_BYTES for piece in pieces)
    assert "".join(pieces) == text
    assert last == "after"


def test_the_notices_for_a_refused_batch_fit_the_limit_too(action_log: ActionLog) -> None:
    # given a full batch the server refuses with a long, non-ASCII reason
    server = Server()
    server.script = [ServerError({"status": 400, "code": "invalid", "detail": "é" * 5000})]

    ship(action_log, server, [f"line {index}" for index in range(500)])

    # then the notices that stand for the refused lines fit one frame, and keep every seq
    assert max(server.sizes) <= BATCH_BYTES
    assert len(server.texts) == 500
    assert server.texts[0] == "agent: line refused: " + "é" * 1000
    assert server.texts[1:] == ["agent: line refused (the reason is at line 1)"] * 499


def test_a_batch_limit_that_cannot_hold_the_longest_line_is_refused(
    action_log: ActionLog,
) -> None:
    async def noop(frame: dict[str, Any]) -> dict[str, Any]:
        return {}

    with pytest.raises(ValueError, match="max_bytes"):
        LogSender(action_log, noop, max_bytes=MIN_BATCH_BYTES - 1)

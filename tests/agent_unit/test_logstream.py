"""Lines from bytes (64 KiB split on a UTF-8 boundary), batching by size and time, acks."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from rackpilot_agent.logstream import (
    MAX_LINE_BYTES,
    ActionLog,
    LineSplitter,
    LogSender,
    ServerError,
    split_text,
)
from rackpilot_agent.spool import Spool


def _lines(splitter: LineSplitter, *chunks: bytes) -> list[tuple[str, bool]]:
    out = []
    for chunk in chunks:
        out.extend(splitter.feed(chunk))
    return out + splitter.finish()


# --- line splitting ----------------------------------------------------------------------------


def test_lines_are_cut_at_newlines_across_chunks():
    lines = _lines(LineSplitter(), b"one\ntw", b"o\r\nthr", b"ee")
    assert lines == [("one", True), ("two", True), ("three", True)]


def test_ansi_codes_and_blank_lines_are_kept():
    lines = _lines(LineSplitter(), b"\x1b[32mok\x1b[0m\n\n\rprogress 50%\n")
    assert [text for text, _ in lines] == ["\x1b[32mok\x1b[0m", "", "\rprogress 50%"]


def test_invalid_utf8_is_replaced_not_dropped():
    lines = _lines(LineSplitter(), b"bad \xff\xfe end\n")
    assert lines == [("bad \ufffd\ufffd end", True)]


def test_a_multibyte_character_split_across_chunks_survives():
    data = "naïve ✓ 🚀\n".encode()
    chunks = [data[i : i + 1] for i in range(len(data))]  # one byte at a time
    assert _lines(LineSplitter(), *chunks) == [("naïve ✓ 🚀", True)]


def test_a_long_line_is_split_at_64_kib_and_nothing_is_lost():
    text = "x" * 200_000
    pieces = _lines(LineSplitter(), text.encode() + b"\ntail\n")
    assert [len(piece.encode()) for piece, _ in pieces[:-1]] == [65536, 65536, 65536, 3392]
    assert "".join(piece for piece, _ in pieces[:4]) == text
    # Only the last piece of the long line ends it (re-attach counts source lines by this).
    assert [ends for _, ends in pieces] == [False, False, False, True, True]


@pytest.mark.parametrize("char", ["é", "✓", "🚀"])
def test_the_split_never_cuts_a_utf8_character(char: str):
    text = "a" + char * (MAX_LINE_BYTES // len(char.encode()) + 10)  # misaligned on purpose
    pieces = [piece for piece, _ in _lines(LineSplitter(), text.encode() + b"\n")]
    assert len(pieces) == 2
    assert all(len(piece.encode()) <= MAX_LINE_BYTES for piece in pieces)
    assert "\ufffd" not in "".join(pieces)
    assert "".join(pieces) == text


def test_a_long_line_without_newline_is_emitted_before_the_stream_ends():
    splitter = LineSplitter()
    out = splitter.feed(b"y" * 70_000)
    assert [(len(text), ends) for text, ends in out] == [(65536, False)]
    assert splitter.finish() == [("y" * (70_000 - 65536), True)]


def test_replacement_characters_cannot_push_a_piece_over_the_limit():
    # Each invalid byte becomes U+FFFD, 3 bytes in UTF-8.
    pieces = _lines(LineSplitter(), b"\xff" * 70_000 + b"\n")
    assert all(len(text.encode()) <= MAX_LINE_BYTES for text, _ in pieces)
    assert sum(len(text) for text, _ in pieces) == 70_000


def test_split_text_for_agent_messages():
    assert split_text("short") == ["short"]
    pieces = split_text("é" * 40_000)
    assert [len(piece.encode()) for piece in pieces] == [65536, 80_000 - 65536]


# --- numbering ----------------------------------------------------------------------------------


@pytest.fixture
def action_log(tmp_path: Path) -> ActionLog:
    return ActionLog(Spool(tmp_path / "spool", cap_bytes=8 << 20), action=31, attempt=2)


def test_seqs_start_at_one_and_long_messages_take_several(action_log: ActionLog):
    action_log.write("stdout", "first")
    action_log.system("é" * 40_000)
    batch = action_log.take_batch(500)
    assert [(line.seq, line.stream) for line in batch] == [
        (1, "stdout"),
        (2, "system"),
        (3, "system"),
    ]
    assert batch[0].ts.endswith("Z")


# --- batching -------------------------------------------------------------------------------------


class FakeServer:
    """Answers ``logs`` frames as the server does: skip resends, refuse gaps, ack the highest."""

    def __init__(self, stored: int = 0, delay: float = 0.0) -> None:
        self.stored = stored
        self.delay = delay
        self.frames: list[tuple[float, dict[str, Any]]] = []
        self.texts: dict[int, str] = {}
        self.script: list[ServerError] = []  # errors to answer with first

    async def send(self, frame: dict[str, Any]) -> dict[str, Any]:
        self.frames.append((time.monotonic(), frame))
        await asyncio.sleep(self.delay)
        if self.script:
            raise self.script.pop(0)
        first = frame["first_seq"]
        if first > self.stored + 1:
            raise ServerError(
                {
                    "status": 409,
                    "code": "stale_report",
                    "detail": f"gap in log lines: expected seq {self.stored + 1}, got {first}",
                }
            )
        for index, line in enumerate(frame["lines"]):
            seq = first + index
            if seq > self.stored:
                assert seq not in self.texts, "a line was stored twice"
                self.texts[seq] = line["text"]
                self.stored = seq
        return {"type": "logs_ack", "acked_seq": self.stored}

    def batch_sizes(self) -> list[int]:
        return [len(frame["lines"]) for _, frame in self.frames]


def test_a_full_batch_goes_at_once_and_the_rest_waits_for_the_interval(action_log: ActionLog):
    server = FakeServer()

    async def scenario() -> None:
        sender = LogSender(action_log, server.send, interval=30.0, max_lines=500)
        sender.start()
        for index in range(1003):
            action_log.write("stdout", f"line {index}")
        await asyncio.sleep(0.3)
        # Two full batches left without waiting for the (long) interval; 3 lines still wait.
        assert server.batch_sizes() == [500, 500]
        assert await sender.drain()  # the end of an action flushes the partial batch
        assert server.batch_sizes() == [500, 500, 3]
        await sender.stop()

    asyncio.run(scenario())
    assert server.stored == 1003
    assert action_log.spool.size_bytes == 0  # everything acknowledged, nothing spooled


def test_a_small_batch_goes_after_the_interval_not_before(action_log: ActionLog):
    server = FakeServer()

    async def scenario() -> float:
        sender = LogSender(action_log, server.send, interval=0.2, max_lines=500)
        sender.start()
        written = time.monotonic()
        action_log.write("stdout", "a")
        action_log.write("stderr", "b")
        await asyncio.sleep(0.1)
        assert server.frames == []  # still inside the interval
        await asyncio.sleep(0.3)
        await sender.stop()
        return written

    written = asyncio.run(scenario())
    assert server.batch_sizes() == [2]
    sent_at = server.frames[0][0]
    assert 0.18 <= sent_at - written < 0.35
    assert [line["stream"] for line in server.frames[0][1]["lines"]] == ["stdout", "stderr"]


def test_lines_written_while_a_batch_is_in_flight_follow_in_order(action_log: ActionLog):
    server = FakeServer(delay=0.05)

    async def scenario() -> None:
        sender = LogSender(action_log, server.send, interval=0.01, max_lines=50)
        sender.start()
        for index in range(400):
            action_log.write("stdout", str(index))
            if index % 37 == 0:
                await asyncio.sleep(0.01)
        assert await sender.drain()
        await sender.stop()

    asyncio.run(scenario())
    assert [server.texts[seq] for seq in range(1, 401)] == [str(i) for i in range(400)]
    assert max(server.batch_sizes()) <= 50
    firsts = [frame["first_seq"] for _, frame in server.frames]
    assert firsts == sorted(firsts)


def test_a_batch_is_bounded_in_bytes_too(action_log: ActionLog):
    server = FakeServer()

    async def scenario() -> None:
        sender = LogSender(action_log, server.send, max_bytes=210_000)
        sender.start()
        for _ in range(10):
            action_log.write("stdout", "w" * 60_000)
        assert await sender.drain()
        await sender.stop()

    asyncio.run(scenario())
    assert server.stored == 10
    assert max(server.batch_sizes()) == 3


def test_expected_seq_in_a_409_makes_it_resend_from_there(tmp_path: Path):
    # The server already holds lines 1-3 (say, sent before a restart that lost the spool's
    # acknowledgement); the agent starts at 1 and is told to go on from 4.
    log = ActionLog(Spool(tmp_path / "s", cap_bytes=8 << 20), action=1, attempt=1)
    for index in range(6):
        log.write("stdout", f"l{index + 1}")
    server = FakeServer(stored=3)
    server.texts = {1: "l1", 2: "l2", 3: "l3"}
    server.script = [
        ServerError({"status": 409, "code": "stale_report", "detail": "gap: expected seq 4, got 1"})
    ]

    async def scenario() -> bool:
        sender = LogSender(log, server.send, interval=0.01)
        sender.start()
        ok = await sender.drain()
        await sender.stop()
        return ok

    assert asyncio.run(scenario())
    assert [frame["first_seq"] for _, frame in server.frames] == [1, 4]
    assert server.texts == {seq: f"l{seq}" for seq in range(1, 7)}


def test_lines_the_server_lost_cannot_be_resent_and_the_log_is_given_up(tmp_path: Path):
    log = ActionLog(Spool(tmp_path / "s", cap_bytes=8 << 20), action=1, attempt=1)
    for index in range(6):
        log.write("stdout", f"l{index}")
    log.ack(4)  # the server said it had 4 ...
    server = FakeServer(stored=2)  # ... then lost two of them

    async def scenario() -> bool:
        sender = LogSender(log, server.send, interval=0.01)
        sender.start()
        ok = await sender.drain()
        await sender.stop()
        return ok

    assert not asyncio.run(scenario())
    assert log.abandoned is not None
    assert "expects seq 3" in log.abandoned


def test_a_stale_attempt_stops_the_log(action_log: ActionLog):
    server = FakeServer()
    server.script = [
        ServerError(
            {
                "status": 409,
                "code": "stale_report",
                "detail": "log lines for attempt 2 of action 31; the current attempt is 3",
            }
        )
    ]
    action_log.write("stdout", "late")

    async def scenario() -> bool:
        sender = LogSender(action_log, server.send, interval=0.01)
        sender.start()
        ok = await sender.drain()
        await sender.stop()
        return ok

    assert not asyncio.run(scenario())
    assert "current attempt is 3" in str(action_log.abandoned)


def test_a_refused_batch_is_replaced_by_a_notice_so_later_lines_still_land(
    action_log: ActionLog, caplog: pytest.LogCaptureFixture
):
    server = FakeServer()
    server.script = [ServerError({"status": 400, "code": "invalid", "detail": "bad line"})]
    action_log.write("stdout", "one")

    async def scenario() -> bool:
        sender = LogSender(action_log, server.send, interval=0.01)
        sender.start()
        ok = await sender.drain()
        action_log.write("stdout", "two")
        ok = ok and await sender.drain()
        await sender.stop()
        return ok

    assert asyncio.run(scenario())
    assert server.texts == {1: "agent: line refused: bad line", 2: "two"}
    assert "server refused log lines" in caplog.text

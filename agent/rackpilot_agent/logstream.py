"""Container output → numbered log lines → spool → batches for the server.

``LineSplitter`` turns a byte stream into lines (at most 64 KiB of UTF-8 each, invalid UTF-8
replaced, ANSI codes untouched). ``ActionLog`` numbers them, appends them to the spool and keeps
the unacknowledged ones; it is thread-safe because container streams are read by threads.
``LogSender`` runs on the event loop and ships batches every 50 ms, 500 lines or 256 KiB of
frame, one batch in flight at a time, moving forward only on the server's ``logs_ack``.

Sizes on the wire are counted as the connection encodes a frame: ``json.dumps`` with its
default ``ensure_ascii``, so every non-ASCII character travels escaped (``\\u00e9`` is 6 bytes,
an emoji is a surrogate pair of 12) and so does every control character. Counting characters
or UTF-8 bytes instead would let a batch of emoji or CJK text grow to several times its budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json.encoder
import logging
import re
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from rackpilot_agent.spool import LogLine, Spool, SpoolFullError

log = logging.getLogger(__name__)

MAX_LINE_BYTES = 64 * 1024
# A line's text as it travels in the frame (escaped, quoted) is at most this long: a longer one
# is split like a line over MAX_LINE_BYTES. 64 KiB of UTF-8 escapes to at most 192 KiB unless
# it is mostly control characters, so only such lines are split for this.
MAX_LINE_WIRE_BYTES = 200 * 1024
BATCH_INTERVAL = 0.05
BATCH_LINES = 500
# The server takes frames of up to 1 MiB; a batch's whole frame stays well under that.
BATCH_BYTES = 256 * 1024
# The frame around the lines ({"type": "logs", "action": ..., "attempt": ..., "first_seq": ...,
# "lines": [...], "id": ...}) with room for the largest numbers.
FRAME_OVERHEAD_BYTES = 256
# Around one line's three escaped strings: {"stream": , "ts": , "text": } and the ", " after it.
LINE_OVERHEAD_BYTES = 32
# The smallest batch limit that still takes any one line (stream and timestamp included).
MIN_BATCH_BYTES = FRAME_OVERHEAD_BYTES + MAX_LINE_WIRE_BYTES + 1024
_EXPECTED_SEQ = re.compile(r"expected seq (\d+)")
# The escaping json.dumps applies to a string by default (quotes included), in C.
_escaped = json.encoder.encode_basestring_ascii


def utc_timestamp() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _utf8_cut(data: bytes | bytearray, limit: int) -> int:
    """The largest cut ≤ ``limit`` that does not split a UTF-8 sequence."""
    if len(data) <= limit:
        return len(data)
    cut = limit
    # Back off over continuation bytes (10xxxxxx); more than 3 means it is not UTF-8 anyway.
    while cut > limit - 3 and cut > 0 and (data[cut] & 0xC0) == 0x80:
        cut -= 1
    if (data[cut] & 0xC0) == 0x80 or cut == 0:
        cut = limit
    return cut


def wire_bytes(line: LogLine) -> int:
    """The bytes ``line`` adds to a ``logs`` frame, exactly as the connection encodes it."""
    return (
        len(_escaped(line.stream))
        + len(_escaped(line.ts))
        + len(_escaped(line.text))
        + LINE_OVERHEAD_BYTES
    )


def _split_escaped(text: str, wire_limit: int) -> list[str]:
    """``text`` in pieces of at most ``wire_limit`` bytes once escaped, cut between
    characters. Each cut is shrunk in proportion to its overshoot until it fits, so a piece
    costs a few C-speed encodings, never a Python loop over its characters."""
    pieces = []
    while len(text) > 1 and (size := len(_escaped(text))) > wire_limit:
        cut = len(text)
        while size > wire_limit and cut > 1:
            cut = max(1, cut * wire_limit // size)
            size = len(_escaped(text[:cut]))
        pieces.append(text[:cut])
        text = text[cut:]
    pieces.append(text)
    return pieces


def split_text(
    text: str, limit: int = MAX_LINE_BYTES, wire_limit: int = MAX_LINE_WIRE_BYTES
) -> list[str]:
    """``text`` in pieces of at most ``limit`` UTF-8 bytes and ``wire_limit`` bytes escaped
    for the frame, cut between characters."""
    # A character is at most 4 bytes of UTF-8 and 12 escaped: a short text cannot be over
    # either limit, so the hot path skips encoding.
    if len(text) * 4 <= limit and len(text) * 12 + 2 <= wire_limit:
        return [text]
    data = text.encode("utf-8", errors="replace")
    pieces = []
    if len(data) <= limit:
        pieces.append(text)
    else:
        while data:
            cut = _utf8_cut(data, limit)
            pieces.append(data[:cut].decode("utf-8", errors="replace"))
            data = data[cut:]
    return [part for piece in pieces for part in _split_escaped(piece, wire_limit)]


def decode(data: bytes | bytearray, limit: int = MAX_LINE_BYTES) -> list[str]:
    # Replacement characters are 3 bytes for 1 invalid byte, so re-split after decoding.
    return split_text(bytes(data).decode("utf-8", errors="replace"), limit)


class LineSplitter:
    """Bytes in, lines out: ``(text, ends_source_line)`` pairs.

    A line is cut at ``\\n`` (a ``\\r`` right before it goes too); a line longer than ``limit``
    bytes comes out in several pieces, the last one marked as ending the source line.
    """

    def __init__(self, limit: int = MAX_LINE_BYTES) -> None:
        self.limit = limit
        self._buffer = bytearray()
        self._scanned = 0  # bytes of the buffer known to hold no newline

    def feed(self, data: bytes) -> list[tuple[str, bool]]:
        self._buffer += data
        out: list[tuple[str, bool]] = []
        while True:
            newline = self._buffer.find(b"\n", self._scanned)
            if newline < 0:
                break
            end = newline - 1 if newline and self._buffer[newline - 1] == 0x0D else newline
            self._emit(self._buffer[:end], out, complete=True)
            del self._buffer[: newline + 1]
            self._scanned = 0
        # No newline in sight: hand out full-size pieces now rather than buffer without bound.
        while len(self._buffer) > self.limit:
            cut = _utf8_cut(self._buffer, self.limit)
            out.extend((text, False) for text in decode(self._buffer[:cut], self.limit))
            del self._buffer[:cut]
        self._scanned = len(self._buffer)
        return out

    def finish(self) -> list[tuple[str, bool]]:
        """The last line, when the stream ended without a newline."""
        out: list[tuple[str, bool]] = []
        if self._buffer:
            self._emit(self._buffer, out, complete=True)
            self._buffer.clear()
        self._scanned = 0
        return out

    def _emit(self, raw: bytes | bytearray, out: list[tuple[str, bool]], complete: bool) -> None:
        pieces: list[str] = []
        while len(raw) > self.limit:
            cut = _utf8_cut(raw, self.limit)
            pieces.extend(decode(raw[:cut], self.limit))
            raw = raw[cut:]
        pieces.extend(decode(raw, self.limit))
        for index, text in enumerate(pieces):
            out.append((text, complete and index == len(pieces) - 1))


class ActionLog:
    """The numbered lines of one action attempt, spooled until acknowledged (thread-safe)."""

    def __init__(
        self,
        spool: Spool,
        *,
        action: int,
        attempt: int,
        server_seq: int = 0,
        batch_lines: int = BATCH_LINES,
    ) -> None:
        self.spool = spool
        self.action = action
        self.attempt = attempt
        self.batch_lines = batch_lines
        self._cond = threading.Condition()
        # The server already holds everything up to its log_seq; the rest of the spool is owed.
        spool.ack(server_seq)
        self._unacked: deque[LogLine] = deque(spool.unacked())
        # Number on from the last line actually on disk: a crash may have lost lines that were
        # numbered but never written (nor sent), and a hole would stall the log for good.
        on_disk = self._unacked[-1].seq if self._unacked else spool.acked_seq
        if spool.last_seq > on_disk:
            log.warning(
                "action %s: seqs %d-%d were lost before reaching the spool; reusing them",
                action,
                on_disk + 1,
                spool.last_seq,
            )
            spool.renumber_from(on_disk + 1)
        self.next_seq = on_disk + 1
        self._sent = spool.acked_seq
        self._oldest_unsent_at: float | None = time.monotonic() if self._unacked else None
        self._wakeup: Callable[[], None] = lambda: None
        self._full_reported = False
        self.closed = False
        self.abandoned: str | None = None

    # --- writers (any thread) --------------------------------------------------------------

    def write(
        self, stream: str, text: str, *, ends_source_line: bool = False, block: bool = True
    ) -> None:
        """Number, spool and queue one line (split if over 64 KiB).

        With ``block`` a full spool makes the caller wait for acknowledgements (back-pressure
        on the container's output); the event loop passes ``block=False`` and its few
        ``system`` lines may then go over the cap rather than deadlock the loop.
        """
        pieces = split_text(text)
        ts = utc_timestamp()
        wake = False
        with self._cond:
            for piece in pieces:
                line = LogLine(self.next_seq, stream, ts, piece)
                while True:
                    if self.closed:
                        return
                    try:
                        self.spool.append(line, force=not block)
                        break
                    except SpoolFullError as exc:
                        if not self._full_reported:
                            log.error("%s", exc)
                            self._full_reported = True
                        self._cond.wait(timeout=1.0)
                self._full_reported = False
                self.next_seq += 1
                self._unacked.append(line)
                if self._oldest_unsent_at is None:
                    self._oldest_unsent_at = time.monotonic()
                unsent = self.next_seq - 1 - self._sent
                # Wake the sender only when it has something new to decide on.
                wake = wake or unsent in (1, self.batch_lines)
            if ends_source_line:
                self.spool.count_source_line(stream)
        if wake:
            self._wakeup()

    def system(self, text: str) -> None:
        """A line from the agent itself (pull progress, timeouts...), shown with the output."""
        self.write("system", text, block=False)

    # --- the sender's side (event loop) ----------------------------------------------------

    def set_wakeup(self, wakeup: Callable[[], None]) -> None:
        self._wakeup = wakeup

    @property
    def acked_seq(self) -> int:
        return self.spool.acked_seq

    @property
    def last_seq(self) -> int:
        return self.next_seq - 1

    @property
    def source_lines(self) -> dict[str, int]:
        with self._cond:
            return dict(self.spool.source_lines)

    def reset_source_lines(self) -> None:
        """A new container: its lines are counted from zero (see ``source_lines``)."""
        with self._cond:
            self.spool.source_lines.clear()

    def unsent(self) -> tuple[int, float]:
        """How many lines wait to be sent, and the age in seconds of the oldest one."""
        with self._cond:
            count = self.next_seq - 1 - self._sent
            if count <= 0 or self._oldest_unsent_at is None:
                return 0, 0.0
            return count, time.monotonic() - self._oldest_unsent_at

    def take_batch(self, max_lines: int, max_bytes: int = BATCH_BYTES) -> list[LogLine]:
        """The next unsent lines, made durable (fsync) before they leave the machine."""
        with self._cond:
            if not self._unacked or self.next_seq - 1 <= self._sent:
                return []
            start = max(0, self._sent + 1 - self._unacked[0].seq)
            batch: list[LogLine] = []
            size = FRAME_OVERHEAD_BYTES
            for line in itertools.islice(self._unacked, start, start + max_lines):
                size += wire_bytes(line)
                # The first line goes whatever its size, or the log would stall on it; lines
                # are split to MAX_LINE_WIRE_BYTES, so it fits any limit from MIN_BATCH_BYTES.
                if batch and size > max_bytes:
                    break
                batch.append(line)
            self.spool.sync()
            self._sent = batch[-1].seq
            if self._sent >= self.next_seq - 1:
                self._oldest_unsent_at = None
            return batch

    def ack(self, seq: int) -> None:
        with self._cond:
            if seq > self.spool.acked_seq:
                self.spool.ack(seq)
                while self._unacked and self._unacked[0].seq <= seq:
                    self._unacked.popleft()
                self.next_seq = max(self.next_seq, seq + 1)
            self._sent = max(self._sent, seq)
            self._cond.notify_all()  # a writer may wait for spool space

    def rewind(self) -> None:
        """Send again from the first unacknowledged line."""
        with self._cond:
            self._sent = self.spool.acked_seq
            if self.next_seq - 1 > self._sent:
                self._oldest_unsent_at = 0.0  # long overdue: send at once

    def close(self) -> None:
        """No more lines: wakes blocked writers, which then drop their line."""
        with self._cond:
            self.closed = True
            self.spool.sync()
            self.spool.close()
            self._cond.notify_all()


class ServerError(Exception):
    """The server answered a request with an ``error`` frame."""

    def __init__(self, frame: dict[str, Any]) -> None:
        self.status = int(frame.get("status", 0))
        self.code = str(frame.get("code", ""))
        self.detail = frame.get("detail")
        super().__init__(f"{self.status} {self.code}: {self.detail}")


SendFn = Callable[[dict[str, Any]], Awaitable[dict[str, Any]]]


class LogSender:
    """Ships an ActionLog's lines in batches and applies the server's acknowledgements."""

    def __init__(
        self,
        action_log: ActionLog,
        send: SendFn,
        *,
        interval: float = BATCH_INTERVAL,
        max_lines: int = BATCH_LINES,
        max_bytes: int = BATCH_BYTES,
    ) -> None:
        if max_bytes < MIN_BATCH_BYTES:
            raise ValueError(
                f"max_bytes {max_bytes} is below {MIN_BATCH_BYTES}: a frame would not hold a "
                f"line of {MAX_LINE_WIRE_BYTES} bytes"
            )
        self.log = action_log
        self._send = send
        self.interval = interval
        self.max_lines = max_lines
        self.max_bytes = max_bytes
        action_log.batch_lines = max_lines
        self._wake = asyncio.Event()
        self._progress = asyncio.Event()
        self._flush = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        loop = asyncio.get_running_loop()

        def wakeup() -> None:  # called from container-reading threads
            # The loop is gone once the agent has stopped; a late line only needs the spool.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(self._wake.set)

        self.log.set_wakeup(wakeup)
        self._task = loop.create_task(self.run(), name=f"logs-{self.log.action}")

    async def run(self) -> None:
        try:
            await self._run()
        finally:
            self._progress.set()  # a drain() waiting on a sender that stopped must wake up

    async def _run(self) -> None:
        while self.log.abandoned is None:
            self._wake.clear()
            count, age = self.log.unsent()
            if count == 0:
                await self._wake.wait()
                continue
            if count < self.max_lines and not self._flush and age < self.interval:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.interval - age):
                        await self._wake.wait()
                continue
            batch = self.log.take_batch(self.max_lines, self.max_bytes)
            if batch:
                await self._ship(batch)
            self._progress.set()

    async def _ship(self, batch: list[LogLine], refused: str | None = None) -> None:
        lines = [line.wire() for line in batch]
        if refused is not None:
            # Keep the seqs contiguous (a hole would block every later batch) but say why the
            # lines are not there. The reason goes once: 500 copies of a long one could make
            # the notices' frame larger than the batch it replaces.
            first = batch[0].seq
            lines = [
                {
                    "stream": "system",
                    "ts": line.ts,
                    "text": f"agent: line refused: {refused}"
                    if line.seq == first
                    else f"agent: line refused (the reason is at line {first})",
                }
                for line in batch
            ]
        frame = {
            "type": "logs",
            "action": self.log.action,
            "attempt": self.log.attempt,
            "first_seq": batch[0].seq,
            "lines": lines,
        }
        try:
            reply = await self._send(frame)
        except ServerError as exc:
            if exc.status == 400 and refused is None:
                log.error("action %s: server refused log lines: %s", self.log.action, exc)
                await self._ship(batch, refused=str(exc.detail)[:1000])
            else:
                self._refused(exc)
            return
        acked = int(reply.get("acked_seq", 0))
        self.log.ack(acked)
        if acked < batch[-1].seq:
            self.log.rewind()

    def _refused(self, exc: ServerError) -> None:
        expected = _EXPECTED_SEQ.search(str(exc.detail)) if exc.status == 409 else None
        if expected:
            resend_from = int(expected[1])
            if resend_from - 1 < self.log.acked_seq:
                self._abandon(f"the server expects seq {resend_from}, already forgotten: {exc}")
                return
            log.info("action %s: resending logs from seq %d", self.log.action, resend_from)
            self.log.ack(resend_from - 1)
            self.log.rewind()
        else:  # stale attempt, forbidden: nothing more of this attempt will be accepted
            self._abandon(str(exc))

    def _abandon(self, reason: str) -> None:
        log.warning("action %s: giving up on its log: %s", self.log.action, reason)
        self.log.abandoned = reason

    async def drain(self) -> bool:
        """Send everything written so far and wait for its acknowledgement.

        Returns False when the server will not take this attempt's lines any more.
        """
        if self._task is None:
            raise RuntimeError("start() the sender before draining it")
        target = self.log.last_seq
        self._flush = True
        try:
            while self.log.acked_seq < target and self.log.abandoned is None:
                if self._task is not None and self._task.done():
                    self._task.result()  # re-raise what stopped the sender
                    return False
                self._progress.clear()
                self._wake.set()
                await self._progress.wait()
        finally:
            self._flush = False
        return self.log.abandoned is None

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            # asyncio.wait, not `await task`: the caller's own cancellation must not be
            # mistaken for the sender's and swallowed.
            await asyncio.wait({self._task})
            self._task = None

"""The on-disk spool: every log line is kept here until the server acknowledges it.

One directory per action attempt holds append-only segment files of JSON lines (one record
per line, named after their first seq) and a small ``state.json`` (acknowledged seq, last seq,
and how many lines of each container stream were consumed, so a re-attached agent can skip
what it already has). A segment is deleted once every line in it is acknowledged, so the spool
holds only what the server has not confirmed. The directory survives the agent process: after a
restart the unacknowledged lines are read back and resent.

Not thread-safe on its own: ``logstream.ActionLog`` serialises access.
"""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

SEGMENT_BYTES = 1 << 20
MIN_CAP_BYTES = 1 << 20
_DIR_PATTERN = re.compile(r"action-(\d+)-attempt-(\d+)")
_SEGMENT_SUFFIX = ".jsonl"


class SpoolFullError(Exception):
    """Appending would take the spool over its size cap."""


@dataclass(frozen=True)
class LogLine:
    seq: int
    stream: str
    ts: str
    text: str

    def wire(self) -> dict[str, str]:
        return {"stream": self.stream, "ts": self.ts, "text": self.text}

    def record(self) -> bytes:
        body = {"seq": self.seq, "stream": self.stream, "ts": self.ts, "text": self.text}
        text = json.dumps(body, ensure_ascii=False, separators=(",", ":"))
        return (text + "\n").encode("utf-8", errors="replace")


@dataclass
class _Segment:
    first_seq: int
    last_seq: int
    path: Path
    size: int


def spool_directory(root: Path, action: int, attempt: int) -> Path:
    return root / f"action-{action}-attempt-{attempt}"


def list_spools(root: Path) -> list[tuple[int, int, Path]]:
    """(action, attempt, directory) of every spool under ``root``, oldest action first."""
    found = []
    try:
        entries = list(root.iterdir())
    except OSError:
        return []
    for entry in entries:
        match = _DIR_PATTERN.fullmatch(entry.name)
        if match and entry.is_dir():
            found.append((int(match[1]), int(match[2]), entry))
    return sorted(found)


class Spool:
    def __init__(
        self, directory: Path, *, cap_bytes: int, segment_bytes: int = SEGMENT_BYTES
    ) -> None:
        if cap_bytes < MIN_CAP_BYTES:
            raise ValueError(f"a spool cap below {MIN_CAP_BYTES} bytes cannot hold one line")
        self.directory = directory
        self.cap_bytes = cap_bytes
        self.segment_bytes = segment_bytes
        self.acked_seq = 0
        self.last_seq = 0
        self.source_lines: dict[str, int] = {}
        # What state.json may claim: only lines already fsynced. Appended lines still in a
        # buffer die with the process, so claiming them would leave holes after a crash.
        self._durable_seq = 0
        self._durable_source_lines: dict[str, int] = {}
        self._segments: list[_Segment] = []
        self._active: IO[bytes] | None = None
        self._dirty = False
        directory.mkdir(parents=True, exist_ok=True)
        self._load()

    # --- reading back ---------------------------------------------------------------------

    def _load(self) -> None:
        state = self._read_state()
        self.acked_seq = int(state.get("acked_seq", 0))
        self.last_seq = int(state.get("last_seq", 0))
        self.source_lines = {str(k): int(v) for k, v in state.get("source_lines", {}).items()}
        # Lines past the state's last seq reached the file through the write buffer but were
        # never synced, sent or counted in source_lines: a re-attached reader reads them from
        # the container again, so keeping them would store them twice.
        durable = self.last_seq
        for path in sorted(self.directory.glob("*" + _SEGMENT_SUFFIX)):
            segment = self._scan_segment(path, up_to_seq=durable)
            if segment is None:
                path.unlink(missing_ok=True)
                continue
            self._segments.append(segment)
            self.last_seq = max(self.last_seq, segment.last_seq)
        self._durable_seq = self.last_seq
        self._durable_source_lines = dict(self.source_lines)
        self._forget_acknowledged()

    def _read_state(self) -> dict[str, Any]:
        try:
            state = json.loads((self.directory / "state.json").read_text())
        except (OSError, ValueError):
            return {}
        return state if isinstance(state, dict) else {}

    def _scan_segment(self, path: Path, *, up_to_seq: int) -> _Segment | None:
        """The segment's seq range; a torn last record (a crash mid-write) and records past
        ``up_to_seq`` are cut off."""
        first = last = 0
        good_bytes = 0
        with path.open("rb") as handle:
            for raw in handle:
                try:
                    seq = int(json.loads(raw)["seq"]) if raw.endswith(b"\n") else None
                except (ValueError, KeyError, TypeError):
                    seq = None
                if seq is None or seq > up_to_seq:
                    break
                first = first or seq
                last = seq
                good_bytes += len(raw)
        if good_bytes != path.stat().st_size:
            log.warning(
                "spool %s: dropping unsynced or torn records from byte %d", path, good_bytes
            )
            with path.open("r+b") as handle:
                handle.truncate(good_bytes)
        if not first:
            return None
        return _Segment(first_seq=first, last_seq=last, path=path, size=good_bytes)

    def unacked(self) -> list[LogLine]:
        """Every spooled line after the acknowledged seq, in seq order."""
        self._flush()
        lines = []
        for segment in self._segments:
            with segment.path.open("rb") as handle:
                for raw in handle:
                    record = json.loads(raw)
                    if record["seq"] > self.acked_seq:
                        lines.append(
                            LogLine(record["seq"], record["stream"], record["ts"], record["text"])
                        )
        return lines

    # --- writing ----------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        return sum(segment.size for segment in self._segments)

    def append(self, line: LogLine, *, force: bool = False) -> None:
        """Append one line; raises SpoolFullError past the cap unless ``force``."""
        data = line.record()
        size = self.size_bytes
        if not force and size + len(data) > self.cap_bytes:
            raise SpoolFullError(
                f"log spool {self.directory} holds {size} bytes of lines the server has not "
                f"acknowledged; its cap is {self.cap_bytes} bytes (--spool-cap). Container "
                "output is held back until the server catches up."
            )
        if line.seq <= self.last_seq:
            raise ValueError(f"seq {line.seq} is not after the last spooled seq {self.last_seq}")
        active = self._segments[-1] if self._segments and self._active else None
        if active is None or active.size + len(data) > self.segment_bytes:
            self._open_segment(line.seq)
            active = self._segments[-1]
        assert self._active is not None
        self._active.write(data)
        active.size += len(data)
        active.last_seq = line.seq
        self.last_seq = line.seq
        self._dirty = True

    def renumber_from(self, seq: int) -> None:
        """The next append is ``seq``: lines claimed after it were lost in a crash, unsent."""
        if seq - 1 < self.acked_seq:
            raise ValueError(f"seq {seq} would reuse acknowledged seqs (up to {self.acked_seq})")
        self.last_seq = seq - 1
        self._durable_seq = min(self._durable_seq, seq - 1)

    def count_source_line(self, stream: str) -> None:
        self.source_lines[stream] = self.source_lines.get(stream, 0) + 1

    def _open_segment(self, first_seq: int) -> None:
        self._close_active()
        path = self.directory / f"{first_seq:012d}{_SEGMENT_SUFFIX}"
        self._active = path.open("ab")
        self._segments.append(_Segment(first_seq=first_seq, last_seq=first_seq, path=path, size=0))

    def _flush(self) -> None:
        if self._active is not None:
            self._active.flush()

    def sync(self) -> None:
        """Make every appended line durable (one fsync per batch, not per line)."""
        if self._active is not None and self._dirty:
            self._active.flush()
            os.fsync(self._active.fileno())
        self._dirty = False
        self._durable_seq = self.last_seq
        self._durable_source_lines = dict(self.source_lines)
        self._write_state()

    def _write_state(self) -> None:
        state = {
            "acked_seq": self.acked_seq,
            "last_seq": max(self._durable_seq, self.acked_seq),
            "source_lines": self._durable_source_lines,
        }
        temporary = self.directory / "state.json.tmp"
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.directory / "state.json")

    # --- acknowledgements -----------------------------------------------------------------

    def ack(self, seq: int) -> None:
        """The server holds every line up to ``seq``: forget them."""
        if seq <= self.acked_seq:
            return
        self.acked_seq = seq
        # The server may hold more than this spool knows of (lines sent before a restart).
        self.last_seq = max(self.last_seq, seq)
        self._forget_acknowledged()
        self._write_state()

    def _forget_acknowledged(self) -> None:
        keep = []
        for segment in self._segments:
            if segment.last_seq <= self.acked_seq:
                if self._active is not None and segment is self._segments[-1]:
                    self._close_active()
                segment.path.unlink(missing_ok=True)
            else:
                keep.append(segment)
        self._segments = keep

    def _close_active(self) -> None:
        if self._active is not None:
            self._active.close()
            self._active = None

    def close(self) -> None:
        self._close_active()

    def destroy(self) -> None:
        """Remove the spool: the attempt is over and nothing in it is owed to the server."""
        self._close_active()
        shutil.rmtree(self.directory, ignore_errors=True)

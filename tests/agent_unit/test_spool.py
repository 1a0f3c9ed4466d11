"""The on-disk spool: append, acknowledge, read back after a restart, cap."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pytest
from rackpilot_agent.logstream import ActionLog
from rackpilot_agent.spool import (
    LogLine,
    Spool,
    SpoolFullError,
    list_spools,
    spool_directory,
)

CAP = 1 << 20


def _line(seq: int, text: str | None = None, stream: str = "stdout") -> LogLine:
    return LogLine(seq, stream, "2026-11-28T10:00:00.000Z", text if text is not None else f"l{seq}")


def _segments(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.glob("*.jsonl"))


def test_lines_survive_a_reopen_in_order(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    for seq in range(1, 6):
        spool.append(_line(seq, f"line {seq} \x1b[31mred\x1b[0m é"))
    spool.sync()
    spool.close()

    reopened = Spool(tmp_path / "s", cap_bytes=CAP)
    lines = reopened.unacked()
    assert [line.seq for line in lines] == [1, 2, 3, 4, 5]
    assert lines[2].text == "line 3 \x1b[31mred\x1b[0m é"
    assert reopened.last_seq == 5


def test_acknowledged_lines_are_forgotten_segment_by_segment(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP, segment_bytes=200)
    for seq in range(1, 21):
        spool.append(_line(seq, "x" * 40))
    spool.sync()
    before = _segments(tmp_path / "s")
    assert len(before) > 3

    spool.ack(10)
    after = _segments(tmp_path / "s")
    assert len(after) < len(before)
    assert [line.seq for line in spool.unacked()] == list(range(11, 21))

    spool.ack(20)  # everything acknowledged: nothing left on disk but the state
    assert _segments(tmp_path / "s") == []
    assert spool.size_bytes == 0
    spool.append(_line(21))  # and appending carries on in a new segment
    assert [line.seq for line in spool.unacked()] == [21]


def test_acknowledgement_state_survives_a_reopen(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP, segment_bytes=10_000)
    for seq in range(1, 11):
        spool.append(_line(seq))
    spool.count_source_line("stdout")
    spool.sync()
    spool.ack(4)
    spool.close()

    reopened = Spool(tmp_path / "s", cap_bytes=CAP)
    assert reopened.acked_seq == 4
    assert [line.seq for line in reopened.unacked()] == [5, 6, 7, 8, 9, 10]
    assert reopened.source_lines == {"stdout": 1}


def test_resend_after_restart_starts_after_the_servers_seq(tmp_path: Path):
    """The agent died with lines 1..8 spooled; the server had stored up to 5."""
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    for seq in range(1, 9):
        spool.append(_line(seq))
    spool.sync()
    spool.close()

    log = ActionLog(Spool(tmp_path / "s", cap_bytes=CAP), action=1, attempt=1, server_seq=5)
    batch = log.take_batch(500)
    assert [line.seq for line in batch] == [6, 7, 8]
    log.write("stdout", "new")
    assert log.last_seq == 9  # numbering continues, nothing reused


def test_server_ahead_of_the_spool_moves_numbering_forward(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    spool.append(_line(1))
    spool.sync()
    log = ActionLog(spool, action=1, attempt=1, server_seq=40)
    assert log.take_batch(500) == []
    log.write("stdout", "after")
    assert log.last_seq == 41


def test_the_state_file_never_claims_lines_that_are_not_on_disk_yet(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    for seq in range(1, 4):
        spool.append(_line(seq))
        spool.count_source_line("stdout")
    spool.sync()
    spool.append(_line(4))  # still in a buffer: a crash now would lose it
    spool.count_source_line("stdout")
    spool.ack(2)
    state = json.loads((tmp_path / "s/state.json").read_text())
    assert state == {"acked_seq": 2, "last_seq": 3, "source_lines": {"stdout": 3}}


def test_seqs_lost_in_a_crash_are_reused_so_the_log_has_no_hole(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    for seq in range(1, 4):
        spool.append(_line(seq))
    spool.sync()
    spool.close()
    # What a crash can leave: a state claiming seqs 4-5 whose records never reached the disk.
    (tmp_path / "s/state.json").write_text('{"acked_seq": 1, "last_seq": 5}')

    log = ActionLog(Spool(tmp_path / "s", cap_bytes=CAP), action=1, attempt=1, server_seq=1)
    log.write("stdout", "after the crash")
    assert [(line.seq, line.text) for line in log.take_batch(500)] == [
        (2, "l2"),
        (3, "l3"),
        (4, "after the crash"),
    ]


def test_lines_that_reached_the_file_unsynced_are_dropped_with_their_uncounted_source(
    tmp_path: Path,
):
    # A killed agent re-reads the container's output from its source-line count; a line that
    # the write buffer spilled to disk after the last sync is not in that count and would be
    # read (and stored) a second time if the spool kept it.
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    for seq in range(1, 4):
        spool.append(_line(seq))
        spool.count_source_line("stdout")
    spool.sync()
    for seq in (4, 5):
        spool.append(_line(seq))
        spool.count_source_line("stdout")
    spool._flush()  # the buffer reached the file; no sync, no state: then SIGKILL

    reopened = Spool(tmp_path / "s", cap_bytes=CAP)
    assert [line.seq for line in reopened.unacked()] == [1, 2, 3]
    assert reopened.source_lines == {"stdout": 3}
    assert reopened.last_seq == 3


def test_a_torn_last_record_is_dropped_on_reopen(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    for seq in range(1, 4):
        spool.append(_line(seq))
    spool.sync()
    spool.close()
    segment = next((tmp_path / "s").glob("*.jsonl"))
    with segment.open("ab") as handle:
        handle.write(b'{"seq":4,"stream":"stdout","ts":"x","te')  # power cut mid-write

    reopened = Spool(tmp_path / "s", cap_bytes=CAP)
    assert [line.seq for line in reopened.unacked()] == [1, 2, 3]
    reopened.append(_line(4, "whole again"))
    assert reopened.unacked()[-1].text == "whole again"


def test_the_cap_refuses_with_a_clear_error_until_acknowledged(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP, segment_bytes=64 << 10)
    text = "y" * 60_000
    seq = 1
    while spool.size_bytes + len(_line(seq, text).record()) <= CAP:
        spool.append(_line(seq, text))
        seq += 1
    with pytest.raises(SpoolFullError, match=r"cap is 1048576 bytes \(--spool-cap\)"):
        spool.append(_line(seq, text))
    assert spool.size_bytes <= CAP
    spool.ack(seq - 1)
    spool.append(_line(seq, text))  # room again
    assert [line.seq for line in spool.unacked()] == [seq]


def test_a_full_spool_holds_back_the_writer_instead_of_dropping(tmp_path: Path):
    log = ActionLog(
        Spool(tmp_path / "s", cap_bytes=CAP, segment_bytes=64 << 10), action=1, attempt=1
    )
    text = "z" * 60_000

    def produce() -> None:
        for _ in range(30):  # ~1.8 MB: more than the cap
            log.write("stdout", text)

    writer = threading.Thread(target=produce)
    writer.start()
    time.sleep(0.3)
    assert writer.is_alive()  # blocked on the cap
    stuck_at = log.last_seq
    assert stuck_at < 30
    while writer.is_alive():
        log.ack(log.last_seq)
        writer.join(0.05)
    assert log.last_seq == 30  # every line got a seq: none was dropped


def test_seqs_must_grow(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    spool.append(_line(3))
    with pytest.raises(ValueError, match="not after"):
        spool.append(_line(3))


def test_spools_are_found_by_action_and_attempt(tmp_path: Path):
    for action, attempt in [(31, 2), (7, 1)]:
        Spool(spool_directory(tmp_path, action, attempt), cap_bytes=CAP).close()
    (tmp_path / "not-a-spool").mkdir()
    found = [(action, attempt) for action, attempt, _ in list_spools(tmp_path)]
    assert found == [(7, 1), (31, 2)]
    assert list_spools(tmp_path / "absent") == []


def test_destroy_removes_everything(tmp_path: Path):
    spool = Spool(tmp_path / "s", cap_bytes=CAP)
    spool.append(_line(1))
    spool.sync()
    spool.destroy()
    assert not (tmp_path / "s").exists()

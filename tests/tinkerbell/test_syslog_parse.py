"""Syslog messages and TCP framing as real senders produce them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from tinkerbell.syslog.parse import TcpFramer, parse_message


@pytest.mark.parametrize(
    ("raw", "app", "text", "hostname"),
    [
        # RFC 5424 with structured data holding an escaped bracket, as logger --sd-param writes.
        (
            b'<14>1 2026-12-06T11:00:00.123Z hook-01 image2disk 123 - [meta a="x\\]"] hello',
            "image2disk",
            "hello",
            "hook-01",
        ),
        (b"<14>1 2026-12-06T11:00:00Z - - - - - \xef\xbb\xbfwith a BOM", "", "with a BOM", ""),
        # RFC 3164 as logger --rfc3164 and Docker's syslog driver write it.
        (
            b"<30>Dec  6 11:41:37 hook-01 stream-image[42]: wrote 10 MB",
            "stream-image",
            "wrote 10 MB",
            "hook-01",
        ),
        (b"<30>2026-12-06T11:41:37Z hook docker/abc123[7]: line", "docker/abc123", "line", "hook"),
        # Python's SysLogHandler: no timestamp, no host, a NUL at the end.
        (b"<14>myapp: hello\x00", "myapp", "hello", ""),
        # Not syslog at all: kept whole.
        (b"no header: here", "", "no header: here", ""),
        (b"plain words", "", "plain words", ""),
    ],
)
def test_messages(raw, app, text, hostname):
    message = parse_message(raw)
    assert (message.app, message.text, message.hostname) == (app, text, hostname)


def test_priority_and_timestamp():
    message = parse_message(b"<165>1 2026-12-06T11:00:00.5+01:00 h app - ID47 - x")
    assert (message.facility, message.severity) == (20, 5)
    assert message.timestamp == datetime(2026, 12, 6, 10, 0, 0, 500000, tzinfo=UTC)
    assert parse_message(b"<999>x: y").facility == 1  # not a priority: the default, kept text


def test_tcp_framing_octet_counting_and_newlines_mixed_across_reads():
    framer = TcpFramer()
    assert framer.feed(b"10 <14>a: bcd<14>x: y\n<14>z") == [b"<14>a: bcd", b"<14>x: y"]
    assert framer.feed(b": w\n5 <1>a") == [b"<14>z: w"]
    assert framer.feed(b"b") == [b"<1>ab"]
    assert framer.feed(b"<14>last without newline") == []
    assert framer.close() == [b"<14>last without newline"]

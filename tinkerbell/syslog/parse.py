"""Syslog messages as HookOS's dockerd, ``logger`` and Python's SysLogHandler send them.

RFC 5424 (``<PRI>1 TIMESTAMP HOST APP PROCID MSGID SD MSG``), RFC 3164
(``<PRI>Mmm dd hh:mm:ss HOST TAG[PID]: MSG``, also with an RFC 3339 timestamp as Go's syslog
writers put it), and the bare ``<PRI>TAG: MSG`` of SysLogHandler are all read; what is not a
syslog header at all is kept whole as the message, never dropped. Over TCP, messages are
framed by octet counting (RFC 6587: ``LEN SP MSG``) or end at a newline.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

MAX_MESSAGE_BYTES = 64 * 1024

_PRI = re.compile(rb"<(\d{1,3})>")
_RFC5424 = re.compile(
    r"(?P<version>[1-9]\d{0,2}) (?P<ts>\S+) (?P<host>\S+) (?P<app>\S+) (?P<procid>\S+) "
    r"(?P<msgid>\S+) ?"
)
_BSD_STAMP = re.compile(r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d|\d{4}-\d\d-\d\dT\S+) ")
# A tag is what precedes the first ": " (or "[pid]: "), without spaces, as rsyslog reads it.
_TAG = re.compile(r"(?P<tag>[^\s:\[]{1,128})(?:\[(?P<pid>[^\]\s]*)\])?: ?")


@dataclass(frozen=True)
class SyslogMessage:
    facility: int
    severity: int
    text: str
    app: str = ""  # RFC 5424 APP-NAME, or the RFC 3164 tag
    procid: str = ""
    hostname: str = ""
    timestamp: datetime | None = None  # as the sender wrote it, for display only


def _nil(value: str) -> str:
    return "" if value == "-" else value


def _structured_data_end(text: str) -> int:
    """Where RFC 5424's STRUCTURED-DATA ends: ``-`` or ``[...]`` elements, with ``\\]`` escapes
    inside quoted values."""
    if text.startswith("-"):
        return 1
    index, depth, quoted = 0, 0, False
    while index < len(text):
        char = text[index]
        if quoted:
            if char == "\\":
                index += 1
            elif char == '"':
                quoted = False
        elif char == '"':
            quoted = True
        elif char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0 and text[index + 1 : index + 2] != "[":
                return index + 1
        elif depth == 0:
            return index
        index += 1
    return len(text)


def _timestamp(text: str) -> datetime | None:
    try:
        stamp = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return stamp if stamp.tzinfo else stamp.replace(tzinfo=UTC)


def parse_message(raw: bytes) -> SyslogMessage:
    """One message (one datagram or one TCP frame)."""
    raw = raw[:MAX_MESSAGE_BYTES].rstrip(b"\x00\r\n")
    facility, severity = 1, 5  # user.notice, what a message without a PRI is taken as
    match = _PRI.match(raw)
    if match and int(match.group(1)) <= 191:
        facility, severity = divmod(int(match.group(1)), 8)
        raw = raw[match.end() :]
    text = raw.decode("utf-8", "replace")
    header = _RFC5424.match(text)
    if header:
        rest = text[header.end() :]
        end = _structured_data_end(rest)
        message = rest[end:].removeprefix(" ").removeprefix("\ufeff")
        return SyslogMessage(
            facility=facility,
            severity=severity,
            text=message,
            app=_nil(header["app"]),
            procid=_nil(header["procid"]),
            hostname=_nil(header["host"]),
            timestamp=_timestamp(header["ts"]),
        )
    hostname, stamp = "", None
    bsd = _BSD_STAMP.match(text)
    if bsd:
        stamp = _timestamp(bsd.group(0).strip())
        text = text[bsd.end() :]
        host, _, rest = text.partition(" ")
        # "HOST TAG: msg": a first word followed by a tag is the host; "TAG: msg" has none.
        if rest and not host.endswith(":") and _TAG.match(rest):
            hostname, text = host, rest
    tag = _TAG.match(text)
    if tag:
        return SyslogMessage(
            facility=facility,
            severity=severity,
            text=text[tag.end() :],
            app=tag["tag"],
            procid=tag["pid"] or "",
            hostname=hostname,
            timestamp=stamp,
        )
    return SyslogMessage(facility, severity, text, hostname=hostname, timestamp=stamp)


class TcpFramer:
    """Bytes from a TCP stream in, whole messages out (octet counting or newline framing,
    chosen per message as RFC 6587 receivers do: a digit starts a length)."""

    def __init__(self) -> None:
        self._buffer = b""

    def feed(self, data: bytes) -> list[bytes]:
        self._buffer += data
        messages: list[bytes] = []
        while True:
            self._buffer = self._buffer.lstrip(b"\r\n\x00")
            if not self._buffer:
                break
            if self._buffer[:1].isdigit():
                space = self._buffer.find(b" ", 0, 12)
                if space < 0 and len(self._buffer) < 12:
                    break  # the length is still arriving
                if space > 0 and self._buffer[:space].isdigit():
                    size = int(self._buffer[:space])
                    if len(self._buffer) - space - 1 < size:
                        break
                    messages.append(self._buffer[space + 1 : space + 1 + size])
                    self._buffer = self._buffer[space + 1 + size :]
                    continue
            end = self._buffer.find(b"\n")
            if end < 0:
                if len(self._buffer) > MAX_MESSAGE_BYTES:  # no newline coming: cut it here
                    messages.append(self._buffer)
                    self._buffer = b""
                break
            messages.append(self._buffer[:end])
            self._buffer = self._buffer[end + 1 :]
        return messages

    def close(self) -> list[bytes]:
        """What is left when the peer closes: a last message without its newline."""
        rest, self._buffer = self._buffer.strip(b"\r\n\x00"), b""
        return [rest] if rest else []

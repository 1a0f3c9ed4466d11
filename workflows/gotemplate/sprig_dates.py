"""Sprig's hermetic date functions (the Go time model they use is in gotime.py).

``toDate`` reads a time in the local zone as Go's time.Local does; ``ago`` and
``durationRound`` of a time read the clock, yet Sprig counts them as hermetic.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

from .errors import GoFuncError
from .gotime import LOCAL, NANOSECONDS, ZERO_TIME, GoTime, TimeParseError, parse_time
from .gotypes import Int64, is_int, parse_int, wrap_int

# --- durations ----------------------------------------------------------------------------------


def format_duration(nanos: int) -> str:
    """time.Duration.String: "1h2m3.5s", "1.5ms", "0s"."""
    if nanos == 0:
        return "0s"
    negative = nanos < 0
    magnitude = abs(nanos)
    if magnitude < NANOSECONDS:
        for unit, size in (("ns", 1), ("µs", 1000), ("ms", 1_000_000)):
            if magnitude < size * 1000:
                text = _fraction(magnitude, size) + unit
                break
    else:
        seconds, rest = divmod(magnitude, NANOSECONDS)
        text = _fraction(seconds % 60 * NANOSECONDS + rest, NANOSECONDS) + "s"
        minutes = seconds // 60
        if minutes:
            text = f"{minutes % 60}m" + text
            if minutes >= 60:
                text = f"{minutes // 60}h" + text
    return ("-" if negative else "") + text


def _fraction(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    if not rest:
        return str(whole)
    digits = f"{rest:0{len(str(unit)) - 1}d}".rstrip("0")
    return f"{whole}.{digits}"


_UNITS = {
    "ns": 1,
    "us": 1000,
    "µs": 1000,
    "μs": 1000,
    "ms": 1_000_000,
    "s": NANOSECONDS,
    "m": 60 * NANOSECONDS,
    "h": 3600 * NANOSECONDS,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?(ns|us|µs|μs|ms|s|m|h)")


def parse_duration(text: str) -> int:
    """time.ParseDuration; raises ValueError for text Go refuses."""
    original = text
    negative = text[:1] == "-"
    if text[:1] in "+-":
        text = text[1:]
    if text == "0":
        return 0
    if text == "":
        raise ValueError(f'time: invalid duration "{original}"')
    total = 0
    while text:
        match = _DURATION_PART.match(text)
        if not match or (not match.group(1) and not match.group(2)):
            raise ValueError(f'time: invalid duration "{original}"')
        whole, fraction, unit = match.group(1) or "0", match.group(2) or "", match.group(3)
        scale = _UNITS[unit]
        amount = int(whole) * scale
        if fraction:
            amount += int(fraction) * scale // 10 ** len(fraction)
        total += amount
        if total > 2**63 - 1 + negative:
            raise ValueError(f'time: invalid duration "{original}"')
        text = text[match.end() :]
    return -total if negative else total


# --- the template functions ---------------------------------------------------------------------


def _now_ns() -> int:
    return time.time_ns()


def _as_time(value: object) -> GoTime | None:
    if isinstance(value, GoTime):
        return value
    if is_int(value) and type(value) in (int, Int64):
        return GoTime(int(value), 0, LOCAL)  # type: ignore[call-overload]
    return None


def ago(value: object) -> str:
    moment = _as_time(value)
    now = _now_ns()
    if moment is None:
        return "0s"
    elapsed = wrap_int(now - (moment.unix * NANOSECONDS + moment.nanos))
    # Duration.Round(time.Second): halves round away from zero.
    rounded = (abs(elapsed) + NANOSECONDS // 2) // NANOSECONDS * NANOSECONDS
    return format_duration(rounded if elapsed >= 0 else -rounded)


def duration(seconds: object) -> str:
    count = 0
    if isinstance(seconds, str):
        try:
            count = parse_int(seconds, 10, 64)
        except ValueError:
            count = 0
    elif isinstance(seconds, Int64):
        count = int(seconds)
    return format_duration(wrap_int(count * NANOSECONDS))


def duration_round(value: object) -> str:
    nanos = 0
    if isinstance(value, str):
        try:
            nanos = parse_duration(value)
        except ValueError:
            nanos = 0
    elif isinstance(value, Int64):
        nanos = int(value)
    elif isinstance(value, GoTime):
        nanos = wrap_int(_now_ns() - (value.unix * NANOSECONDS + value.nanos))
    magnitude = abs(nanos) % 2**64
    hour = 3600 * NANOSECONDS
    for unit, size in (
        ("y", hour * 24 * 365),
        ("mo", hour * 24 * 30),
        ("d", hour * 24),
        ("h", hour),
        ("m", 60 * NANOSECONDS),
        ("s", NANOSECONDS),
    ):
        if magnitude > size:
            return f"{magnitude // size}{unit}"
    return "0s"


def _expect_time(value: object) -> GoTime:
    if not isinstance(value, GoTime):
        type_name = getattr(type(value), "GO_TYPE", None) or type(value).__name__
        raise GoFuncError(f"wrong type for value; expected time.Time; got {type_name}")
    return value


def must_date_modify(change: str, date: object) -> GoTime:
    moment = _expect_time(date)
    try:
        delta = parse_duration(change)
    except ValueError as error:
        raise GoFuncError(str(error)) from None
    total = moment.nanos + delta
    return GoTime(moment.unix + total // NANOSECONDS, total % NANOSECONDS, moment.zone)


def must_to_date(layout: str, text: str) -> GoTime:
    try:
        return parse_time(layout, text)
    except TimeParseError as error:
        raise GoFuncError(f'parsing time "{text}" as "{layout}": {error}') from None


def to_date(layout: str, text: str) -> GoTime:
    try:
        return parse_time(layout, text)
    except TimeParseError:
        return ZERO_TIME


def unix_epoch(date: object) -> str:
    return str(_expect_time(date).unix)


DATE_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "ago": ago,
    "duration": duration,
    "durationRound": duration_round,
    "mustDateModify": must_date_modify,
    "must_date_modify": must_date_modify,
    "mustToDate": must_to_date,
    "toDate": to_date,
    "unixEpoch": unix_epoch,
}

"""Go's ``time.Time`` as templates see it.

Times parse and format with Go's reference-time layouts ("2006-01-02 15:04:05"), print as
Go's Time.String does, and expose the methods templates call (``.Unix``, ``.Format``...). The
local zone is the process's, as Go's time.Local is (TZ, else /etc/localtime).
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from typing import ClassVar

from .errors import GoFuncError
from .gotypes import Int64, wrap_int

_MONTHS = [
    "January", "February", "March", "April", "May", "June", "July",
    "August", "September", "October", "November", "December",
]  # fmt: skip
_DAYS = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
NANOSECONDS = 1_000_000_000


def _days_from_civil(year: int, month: int, day: int) -> int:
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _civil_from_days(days: int) -> tuple[int, int, int]:
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + (3 if mp < 10 else -9)
    return yoe + era * 400 + (month <= 2), month, day


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _days_in(month: int, year: int) -> int:
    if month == 2:
        return 29 if _is_leap(year) else 28
    return 30 if month in (4, 6, 9, 11) else 31


@dataclass(frozen=True)
class Zone:
    """A location: UTC, the local zone, or a fixed offset with a name."""

    name: str
    offset: int = 0
    local: bool = False

    def lookup(self, unix: int) -> tuple[str, int]:
        if not self.local:
            return self.name, self.offset
        try:
            local = time.localtime(unix)
        except (OverflowError, OSError, ValueError):
            return "UTC", 0
        return local.tm_zone, local.tm_gmtoff


UTC = Zone("UTC")
LOCAL = Zone("Local", local=True)


class GoMonth(int):
    GO_TYPE: ClassVar[str] = "time.Month"

    def go_string(self) -> str:
        return _MONTHS[self - 1] if 1 <= self <= 12 else f"%!Month({int(self)})"


class GoWeekday(int):
    GO_TYPE: ClassVar[str] = "time.Weekday"

    def go_string(self) -> str:
        return _DAYS[self] if 0 <= self <= 6 else f"%!Weekday({int(self)})"


@dataclass(frozen=True)
class GoTime:
    """time.Time: an instant (seconds and nanoseconds since the Unix epoch) in a zone."""

    GO_TYPE: ClassVar[str] = "time.Time"
    GO_KIND: ClassVar[str] = "struct"

    unix: int
    nanos: int
    zone: Zone

    # --- the calendar fields in the time's own zone ---
    def _fields(self) -> tuple[int, int, int, int, int, int, int, str, int]:
        name, offset = self.zone.lookup(self.unix)
        local = self.unix + offset
        days, seconds = divmod(local, 86400)
        year, month, day = _civil_from_days(days)
        weekday = (days + 4) % 7
        return (
            year,
            month,
            day,
            seconds // 3600,
            seconds // 60 % 60,
            seconds % 60,
            weekday,
            name,
            offset,
        )

    def go_string(self) -> str:
        return self.format("2006-01-02 15:04:05.999999999 -0700 MST")

    def marshal_json(self) -> str:
        year = self._fields()[0]
        if not 0 <= year <= 9999:
            raise GoFuncError("Time.MarshalJSON: year outside of range [0,9999]")
        return self.format("2006-01-02T15:04:05.999999999Z07:00")

    def format(self, layout: str) -> str:
        return _format(self, layout)

    # --- methods a template may call ---
    def String(self) -> str:
        return self.go_string()

    def Format(self, layout: str) -> str:
        return self.format(layout)

    def Unix(self) -> Int64:
        return Int64(self.unix)

    def UnixMilli(self) -> Int64:
        return Int64(self.unix * 1000 + self.nanos // 1_000_000)

    def UnixMicro(self) -> Int64:
        return Int64(self.unix * 1_000_000 + self.nanos // 1000)

    def UnixNano(self) -> Int64:
        return Int64(wrap_int(self.unix * NANOSECONDS + self.nanos))

    def Year(self) -> int:
        return self._fields()[0]

    def Month(self) -> GoMonth:
        return GoMonth(self._fields()[1])

    def Day(self) -> int:
        return self._fields()[2]

    def Hour(self) -> int:
        return self._fields()[3]

    def Minute(self) -> int:
        return self._fields()[4]

    def Second(self) -> int:
        return self._fields()[5]

    def Nanosecond(self) -> int:
        return self.nanos

    def Weekday(self) -> GoWeekday:
        return GoWeekday(self._fields()[6])

    def YearDay(self) -> int:
        year, month, day = self._fields()[:3]
        return _days_from_civil(year, month, day) - _days_from_civil(year, 1, 1) + 1

    def IsZero(self) -> bool:
        return self.unix == _ZERO_UNIX and self.nanos == 0

    def UTC(self) -> GoTime:
        return GoTime(self.unix, self.nanos, UTC)


_ZERO_UNIX = _days_from_civil(1, 1, 1) * 86400
ZERO_TIME = GoTime(_ZERO_UNIX, 0, UTC)

# --- layouts ------------------------------------------------------------------------------------

_CHUNK = re.compile(
    r"January|Jan|Monday|Mon|MST|__2|_2006|_2|002|0[1-6]|15|1|2006|2|3|4|5|PM|pm"
    r"|Z070000|Z07:00:00|Z0700|Z07:00|Z07|-070000|-07:00:00|-0700|-07:00|-07"
    r"|[.,](?:0+|9+)(?![0-9])"
)


def _chunks(layout: str) -> list[tuple[str, str]]:
    """Split a layout into (literal, element) pairs; the last element may be empty."""
    parts: list[tuple[str, str]] = []
    position = 0
    for match in _CHUNK.finditer(layout):
        token = match.group(0)
        literal = layout[position : match.start()]
        if token == "_2006":
            # "_2006" is a literal underscore followed by the year.
            literal, token = literal + "_", "2006"
        parts.append((literal, token))
        position = match.end()
    parts.append((layout[position:], ""))
    return parts


def _tz_text(offset: int, token: str) -> str:
    if token.startswith("Z") and offset == 0:
        return "Z"
    sign = "-" if offset < 0 else "+"
    offset = abs(offset)
    hours, minutes, seconds = offset // 3600, offset // 60 % 60, offset % 60
    body = token.lstrip("Z-")
    if body == "07":
        return f"{sign}{hours:02d}"
    if body == "0700":
        return f"{sign}{hours:02d}{minutes:02d}"
    if body == "07:00":
        return f"{sign}{hours:02d}:{minutes:02d}"
    if body == "070000":
        return f"{sign}{hours:02d}{minutes:02d}{seconds:02d}"
    return f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"


def _format(value: GoTime, layout: str) -> str:
    year, month, day, hour, minute, second, weekday, name, offset = value._fields()
    out: list[str] = []
    for literal, token in _chunks(layout):
        out.append(literal)
        if not token:
            continue
        if token == "2006":
            out.append(f"-{-year:04d}" if year < 0 else f"{year:04d}")
        elif token == "06":
            out.append(f"{year % 100:02d}")
        elif token in ("January", "Jan"):
            out.append(_MONTHS[month - 1] if token == "January" else _MONTHS[month - 1][:3])
        elif token in ("Monday", "Mon"):
            out.append(_DAYS[weekday] if token == "Monday" else _DAYS[weekday][:3])
        elif token == "1":
            out.append(str(month))
        elif token == "01":
            out.append(f"{month:02d}")
        elif token == "2":
            out.append(str(day))
        elif token == "_2":
            out.append(f"{day:2d}")
        elif token == "02":
            out.append(f"{day:02d}")
        elif token in ("__2", "002"):
            yday = value.YearDay()
            out.append(f"{yday:3d}" if token == "__2" else f"{yday:03d}")
        elif token == "15":
            out.append(f"{hour:02d}")
        elif token in ("3", "03"):
            twelve = hour % 12 or 12
            out.append(str(twelve) if token == "3" else f"{twelve:02d}")
        elif token in ("4", "04"):
            out.append(str(minute) if token == "4" else f"{minute:02d}")
        elif token in ("5", "05"):
            out.append(str(second) if token == "5" else f"{second:02d}")
        elif token in ("PM", "pm"):
            text = "PM" if hour >= 12 else "AM"
            out.append(text if token == "PM" else text.lower())
        elif token == "MST":
            if name:
                out.append(name)
            else:
                minutes = offset // 60
                sign = "-" if minutes < 0 else "+"
                out.append(f"{sign}{abs(minutes) // 60:02d}{abs(minutes) % 60:02d}")
        elif token[0] in "Z-":
            out.append(_tz_text(offset, token))
        else:
            digits = f"{value.nanos:09d}"[: len(token) - 1]
            if token[1] == "9":
                digits = digits.rstrip("0")
                out.append(token[0] + digits if digits else "")
            else:
                out.append(token[0] + digits)
    return "".join(out)


class TimeParseError(Exception):
    pass


def _number(text: str, fixed: bool, width: int = 2) -> tuple[int, str]:
    digits = 0
    while (
        digits < width and digits < len(text) and text[digits].isascii() and text[digits].isdigit()
    ):
        digits += 1
    if digits == 0 or (fixed and digits < width):
        raise TimeParseError("bad number")
    return int(text[:digits]), text[digits:]


def _lookup(names: list[str], text: str) -> tuple[int, str]:
    for index, name in enumerate(names):
        if text[: len(name)].lower() == name.lower():
            return index, text[len(name) :]
    raise TimeParseError("bad name")


def _nanoseconds(text: str, count: int) -> int:
    if text[0] not in ".,":
        raise TimeParseError("bad fraction")
    digits = text[1:count]
    if not digits.isdigit() or not digits.isascii():
        raise TimeParseError("bad fraction")
    return int((digits + "000000000")[:9]) if len(digits) <= 9 else int(digits[:9])


def _parse_offset(token: str, text: str) -> tuple[int, str]:
    if token.startswith("Z") and text[:1] == "Z":
        return 0, text[1:]
    body = token.lstrip("Z-")
    pattern = {
        "07": r"([+-])(\d\d)",
        "0700": r"([+-])(\d\d)(\d\d)",
        "07:00": r"([+-])(\d\d):(\d\d)",
        "070000": r"([+-])(\d\d)(\d\d)(\d\d)",
        "07:00:00": r"([+-])(\d\d):(\d\d):(\d\d)",
    }[body]
    match = re.match(pattern, text, re.ASCII)
    if not match:
        raise TimeParseError("bad offset")
    parts = [int(group) for group in match.groups()[1:]] + [0, 0]
    if parts[0] > 24 or parts[1] > 60 or parts[2] > 60:
        raise TimeParseError("offset out of range")
    seconds = parts[0] * 3600 + parts[1] * 60 + parts[2]
    return (-seconds if match.group(1) == "-" else seconds), text[match.end() :]


def _zone_name(text: str) -> int:
    """time.parseTimeZone: the length of a zone abbreviation at the start of text."""
    if len(text) < 3:
        raise TimeParseError("bad zone")
    if text[:4] in ("ChST", "MeST"):
        return 4
    if text[:3] == "GMT":
        match = re.match(r"GMT(?:[+-][0-9]{1,2})?", text)
        return match.end() if match else 3
    if text[0] in "+-":
        match = re.match(r"[+-][0-9]{2}", text)
        if match is None:
            raise TimeParseError("bad zone")
        return match.end()
    upper = 0
    while upper < min(len(text), 6) and "A" <= text[upper] <= "Z":
        upper += 1
    if upper == 3 or (upper == 5 and text[4] == "T"):
        return upper
    if upper == 4 and (text[3] == "T" or text[:4] == "WITA"):
        return 4
    raise TimeParseError("bad zone")


def parse_time(layout: str, value: str) -> GoTime:
    year, month, day, yday = 0, -1, -1, -1
    hour = minute = second = nanos = 0
    pm = am = False
    zone: Zone | None = None
    offset: int | None = None
    zone_name = ""
    chunks = _chunks(layout)
    for index, (literal, token) in enumerate(chunks):
        if not value.startswith(literal):
            raise TimeParseError(f"cannot parse {value!r}")
        value = value[len(literal) :]
        if not token:
            continue
        if token == "2006":
            if len(value) < 4 or not value[:4].isascii() or not value[:4].isdigit():
                raise TimeParseError("bad year")
            year, value = int(value[:4]), value[4:]
        elif token == "06":
            two, value = _number(value, True)
            year = two + (1900 if two >= 69 else 2000)
        elif token in ("January", "Jan"):
            found, value = _lookup(
                _MONTHS if token == "January" else [m[:3] for m in _MONTHS], value
            )
            month = found + 1
        elif token in ("Monday", "Mon"):
            _, value = _lookup(_DAYS if token == "Monday" else [d[:3] for d in _DAYS], value)
        elif token in ("1", "01"):
            month, value = _number(value, token == "01")
            if not 1 <= month <= 12:
                raise TimeParseError("month out of range")
        elif token in ("2", "_2", "02"):
            if token == "_2" and value[:1] == " ":
                value = value[1:]
            day, value = _number(value, token == "02")
        elif token in ("__2", "002"):
            for _ in range(2):
                if token == "__2" and value[:1] == " ":
                    value = value[1:]
            yday, value = _number(value, token == "002", 3)
        elif token == "15":
            hour, value = _number(value, False)
            if hour > 23:
                raise TimeParseError("hour out of range")
        elif token in ("3", "03"):
            hour, value = _number(value, token == "03")
            if hour > 12:
                raise TimeParseError("hour out of range")
        elif token in ("4", "04"):
            minute, value = _number(value, token == "04")
            if minute > 59:
                raise TimeParseError("minute out of range")
        elif token in ("5", "05"):
            second, value = _number(value, token == "05")
            if second > 59:
                raise TimeParseError("second out of range")
            following = chunks[index + 1][1] if index + 1 < len(chunks) else ""
            fraction_next = following[:1] in (".", ",")
            match = re.match(r"[.,][0-9]+", value)
            if match and not fraction_next:
                nanos = _nanoseconds(value, match.end())
                value = value[match.end() :]
        elif token in ("PM", "pm"):
            text = value[:2]
            wanted = ("PM", "AM") if token == "PM" else ("pm", "am")
            if text not in wanted:
                raise TimeParseError("bad AM/PM")
            pm, am, value = text == wanted[0], text == wanted[1], value[2:]
        elif token[0] in "Z-":
            if token[0] == "Z" and value[:1] == "Z":
                zone, value = UTC, value[1:]
            else:
                offset, value = _parse_offset(token, value)
        elif token == "MST":
            if value[:3] == "UTC":
                zone, value = UTC, value[3:]
            else:
                length = _zone_name(value)
                zone_name, value = value[:length], value[length:]
        elif token[1] == "0":
            if len(value) < len(token):
                raise TimeParseError("bad fraction")
            nanos = _nanoseconds(value, len(token))
            value = value[len(token) :]
        else:
            match = re.match(r"[.,][0-9]+", value)
            if match:
                nanos = _nanoseconds(value, match.end())
                value = value[match.end() :]
    if value:
        raise TimeParseError(f"extra text: {value!r}")
    if pm and hour < 12:
        hour += 12
    elif am and hour == 12:
        hour = 0
    if yday >= 0:
        if yday < 1 or yday > 365 + _is_leap(year):
            raise TimeParseError("day-of-year out of range")
        if month < 0:
            ordinal = _days_from_civil(year, 1, 1) + yday - 1
            _, month, day = _civil_from_days(ordinal)
    else:
        month = 1 if month < 0 else month
        day = 1 if day < 0 else day
    if day < 1 or day > _days_in(month, year):
        raise TimeParseError("day out of range")
    wall = _days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if zone is not None:
        return GoTime(wall, nanos, zone)
    if offset is not None:
        unix = wall - offset
        name, local_offset = LOCAL.lookup(unix)
        if local_offset == offset and (zone_name == "" or name == zone_name):
            return GoTime(unix, nanos, LOCAL)
        return GoTime(unix, nanos, Zone(zone_name, offset))
    if zone_name:
        for guess in (wall - LOCAL.lookup(wall)[1],):
            name, local_offset = LOCAL.lookup(guess)
            if name == zone_name:
                return GoTime(wall - local_offset, nanos, LOCAL)
        fake = 0
        if len(zone_name) > 3 and zone_name.startswith("GMT"):
            fake = int(zone_name[3:]) * 3600
        # An unknown abbreviation keeps the wall clock as UTC and only borrows the name.
        return GoTime(wall, nanos, Zone(zone_name, fake))
    # No zone in the text: the wall clock is local time.
    guess = wall - LOCAL.lookup(wall)[1]
    return GoTime(wall - LOCAL.lookup(guess)[1], nanos, LOCAL)

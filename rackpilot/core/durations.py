"""Durations as operators read them: "42 s", "3 min 05 s", "1 h 02 min"."""

from __future__ import annotations


def duration_text(duration: float) -> str:
    seconds = round(duration)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s" if seconds else f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"

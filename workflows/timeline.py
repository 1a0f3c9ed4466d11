"""A workflow's actions on one time axis (the Gantt chart beside the log panel).

Each action that started is a bar from its start to its end, or to now while it runs, placed as
a share of the whole run (from the first start to the last end or now); actions that never ran
keep their row with no bar. Computed from the rows the page already loads: no query of its own.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rackpilot.core.durations import duration_text
from workflows.models import Action, Task

TICKS = 5


@dataclass(frozen=True)
class Bar:
    action: Action
    task: str
    left: float  # percent of the axis
    width: float
    seconds: float | None
    running: bool

    @property
    def label(self) -> str:
        return "" if self.seconds is None else duration_text(self.seconds)


@dataclass(frozen=True)
class Timeline:
    bars: list[Bar]
    total_seconds: float
    ticks: list[tuple[float, str]]  # (percent, label)


def _tick(seconds: float, total: float) -> str:
    """Axis labels: tenths of a second on a short run, where whole seconds would repeat."""
    if total < 10:
        return f"{seconds:.1f} s"
    return duration_text(seconds)


def build_timeline(tasks: Iterable[Task], *, now: datetime) -> Timeline:
    rows = [(task.name, action) for task in tasks for action in task.actions.all()]
    starts = [a.started_at for _, a in rows if a.started_at is not None]
    if not starts:
        return Timeline([Bar(a, t, 0, 0, None, False) for t, a in rows], 0, [])
    origin = min(starts)
    ends = [a.finished_at or now for _, a in rows if a.started_at is not None]
    total = max((max(ends) - origin).total_seconds(), 1.0)
    bars = []
    for task, action in rows:
        if action.started_at is None:
            bars.append(Bar(action, task, 0, 0, None, False))
            continue
        end = action.finished_at or now
        seconds = max((end - action.started_at).total_seconds(), 0.0)
        left = 100 * (action.started_at - origin).total_seconds() / total
        # Never invisible: an action that took no measurable time still shows a sliver.
        width = max(100 * seconds / total, 0.6)
        bars.append(
            Bar(action, task, round(left, 3), round(min(width, 100 - left), 3), seconds,
                action.finished_at is None)
        )  # fmt: skip
    ticks = [(100 * n / TICKS, _tick(total * n / TICKS, total)) for n in range(TICKS + 1)]
    return Timeline(bars, total, ticks)

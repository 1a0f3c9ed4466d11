"""Provisioning phases: each workflow's boot split into timed steps, from what is recorded anyway.

A workflow that powers its machine into PXE leaves a trail of events on the machine — the power
command, the iPXE script served, the kernel and the initrd fetched, the agent's hello — and its
actions carry their own start and end. Between two neighbouring marks lies a phase:

    power command → iPXE script → kernel → initrd → agent connected → first action
    → each action → last action → next contact (the machine back after its reboot)

A phase whose marks are missing (a machine already running the agent, a power-on by hand, a
workflow that failed before its reboot) is simply absent: nothing is guessed. The marks of a
boot are the last iPXE script before the first action, and the power command, kernel, initrd
and hello around it, so a machine that PXE-booted twice is measured by the boot that worked.

``phase_summary`` aggregates finished workflows into p50/p95 per phase, grouped by hardware
model, site or template, with a constant number of queries (workflows, actions, events).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.db.models import Exists, F, OuterRef, QuerySet, TextField, Value
from django.db.models.fields.json import KeyTextTransform, KeyTransform
from django.db.models.functions import Coalesce, NullIf
from django.utils import timezone

from inventory.models import Machine
from rackpilot.core.models import Event
from workflows.models import Action, Workflow
from workflows.states import WORKFLOW_FINISHED, WorkflowState

POWER = "power.requested"
SCRIPT = "netboot.script_served"
KERNEL = "netboot.kernel_fetched"
INITRD = "netboot.initrd_fetched"
AGENT = "agent.connected"
# What counts as the machine being back after the workflow's last action (its reboot).
CONTACT_VERBS = (SCRIPT, KERNEL, INITRD, AGENT, "machine.hardware_reported")
MARK_VERBS = tuple(dict.fromkeys((POWER, *CONTACT_VERBS)))
NEXT_CONTACT_WINDOW = timedelta(hours=2)

ACTION_PREFIX = "action:"
# Fixed phases in boot order; actions ("action:<name>") come between "agent" and "reboot".
BOOT_PHASES: list[tuple[str, str]] = [
    ("power", "Power command → iPXE script"),
    ("ipxe", "iPXE script → kernel"),
    ("kernel", "Kernel → initrd"),
    ("boot", "Initrd → agent connected"),
    ("agent", "Agent connected → first action"),
]
REBOOT_PHASE = ("reboot", "Last action → next contact")
PHASE_LABELS = dict([*BOOT_PHASES, REBOOT_PHASE])

GROUPINGS = {
    "": "All workflows",
    "model": "Hardware model",
    "site": "Site",
    "template": "Template",
}
SUMMARY_LIMIT = 5000  # most recent finished workflows a summary reads
UNKNOWN_GROUP = "(unknown)"


@dataclass(frozen=True)
class Phase:
    key: str
    label: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        return max((self.end - self.start).total_seconds(), 0.0)


def phase_label(key: str) -> str:
    if key.startswith(ACTION_PREFIX):
        return f"Action {key.removeprefix(ACTION_PREFIX)}"
    return PHASE_LABELS.get(key, key)


@dataclass(frozen=True)
class _Run:
    """What the phases of one workflow are computed from."""

    created_at: datetime
    finished: bool
    succeeded: bool
    # (name, started_at, finished_at), in workflow order
    actions: Sequence[tuple[str, datetime | None, datetime | None]]


def _last(
    marks: Sequence[tuple[datetime, str]], verb: str, low: datetime, high: datetime
) -> datetime | None:
    found = None
    for moment, kind in marks:
        if moment > high:
            break
        if moment >= low and kind == verb:
            found = moment
    return found


def _first(
    marks: Sequence[tuple[datetime, str]], verbs: Iterable[str], low: datetime, high: datetime
) -> datetime | None:
    wanted = set(verbs)
    for moment, kind in marks:
        if moment > high:
            break
        if moment >= low and kind in wanted:
            return moment
    return None


def _phases(run: _Run, marks: Sequence[tuple[datetime, str]]) -> list[Phase]:
    """``marks``: the machine's (timestamp, verb) events, oldest first."""
    started = [(name, s, e) for name, s, e in run.actions if s is not None]
    first_start = min((s for _, s, _ in started), default=None)
    horizon = first_start or datetime.max.replace(tzinfo=run.created_at.tzinfo)
    points: dict[str, datetime | None] = {}
    script = _last(marks, SCRIPT, run.created_at, horizon)
    points["script"] = script
    points["power"] = _last(marks, POWER, run.created_at, script) if script else None
    kernel = _first(marks, (KERNEL,), script, horizon) if script else None
    points["kernel"] = kernel
    points["initrd"] = _first(marks, (INITRD,), kernel, horizon) if kernel else None
    hello_after = points["initrd"] or script or run.created_at
    points["agent"] = _last(marks, AGENT, hello_after, horizon)
    points["first"] = first_start

    phases = []
    spans = [
        ("power", "power", "script"),
        ("ipxe", "script", "kernel"),
        ("kernel", "kernel", "initrd"),
        ("boot", "initrd", "agent"),
        ("agent", "agent", "first"),
    ]
    for key, begin, end in spans:
        a, b = points[begin], points[end]
        if a is not None and b is not None and b >= a:
            phases.append(Phase(key, PHASE_LABELS[key], a, b))
    for name, begin_at, end_at in started:
        if begin_at is not None and end_at is not None:
            key = f"{ACTION_PREFIX}{name}"
            phases.append(Phase(key, phase_label(key), begin_at, end_at))
    ends = [e for _, _, e in started if e is not None]
    if run.succeeded and ends:
        last_end = max(ends)
        contact = _first(marks, CONTACT_VERBS, last_end, last_end + NEXT_CONTACT_WINDOW)
        # The same instant is the agent's own last report, not the machine coming back.
        if contact is not None and contact > last_end:
            phases.append(Phase(REBOOT_PHASE[0], REBOOT_PHASE[1], last_end, contact))
    return phases


def _marks_query(
    machine_ids: Iterable[int], since: datetime, until: datetime | None
) -> QuerySet[Event, tuple[int, datetime, str]]:
    events = Event.objects.filter(
        machine_id__in=list(machine_ids), verb__in=MARK_VERBS, timestamp__gte=since
    )
    if until is not None:
        events = events.filter(timestamp__lte=until)
    return events.order_by("machine_id", "timestamp", "id").values_list(
        "machine_id", "timestamp", "verb"
    )


def workflow_phases(workflow: Workflow) -> list[Phase]:
    """One workflow's phases (two queries: its actions, its machine's events in its window)."""
    actions = list(
        Action.objects.filter(task__workflow=workflow)
        .order_by("order")
        .values_list("name", "started_at", "finished_at")
    )
    until = workflow.finished_at + NEXT_CONTACT_WINDOW if workflow.finished_at else None
    marks = [(t, v) for _, t, v in _marks_query([workflow.machine_id], workflow.created_at, until)]
    run = _Run(
        created_at=workflow.created_at,
        finished=workflow.state in WORKFLOW_FINISHED,
        succeeded=workflow.state == WorkflowState.SUCCESS,
        actions=actions,
    )
    return _phases(run, marks)


def percentile(sorted_values: Sequence[float], share: float) -> float:
    """Linear interpolation between closest ranks (numpy's default), on sorted values."""
    if not sorted_values:
        raise ValueError("no values")
    rank = (len(sorted_values) - 1) * share
    low = int(rank)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (rank - low)


@dataclass
class PhaseStats:
    key: str
    label: str
    count: int
    p50: float
    p95: float

    def as_dict(self) -> dict[str, Any]:
        return {
            "phase": self.key,
            "label": self.label,
            "count": self.count,
            "p50_seconds": round(self.p50, 3),
            "p95_seconds": round(self.p95, 3),
        }


@dataclass
class PhaseGroup:
    name: str
    workflows: int
    phases: list[PhaseStats] = field(default_factory=list)

    def stats(self, key: str) -> PhaseStats | None:
        return next((p for p in self.phases if p.key == key), None)


@dataclass
class PhaseSummary:
    group_by: str
    since: datetime
    workflows: int
    groups: list[PhaseGroup]
    phase_keys: list[str]  # every phase seen, in boot order

    @property
    def phase_columns(self) -> list[tuple[str, str]]:
        return [(key, phase_label(key)) for key in self.phase_keys]


def _product_name(json_field: str) -> KeyTextTransform:
    # Not KT("machine__hardware__dmi__..."): KT takes its first part as the JSON field itself
    # and would read keys of "machine" instead of following the relation.
    return KeyTextTransform("product_name", KeyTransform("dmi", json_field))


def _model_expression(machine: str) -> Coalesce:
    """A machine's product name: the agent's DMI report first, the BMC's Redfish inventory
    otherwise. ``machine``: the path to the machine ("" on Machine, "machine__" on Workflow)."""
    text: TextField = TextField()
    return Coalesce(
        NullIf(_product_name(f"{machine}hardware"), Value("", output_field=text)),
        NullIf(_product_name(f"{machine}bmc__inventory"), Value("", output_field=text)),
        Value(UNKNOWN_GROUP, output_field=text),
        output_field=text,
    )


def _group_expression(group_by: str) -> Any:
    if group_by == "model":
        return _model_expression("machine__")
    if group_by == "site":
        return Coalesce(F("machine__rack__site__name"), Value(UNKNOWN_GROUP))
    if group_by == "template":
        return F("template__name")
    return Value(GROUPINGS[""])


def model_of(machine_id: int) -> str:
    """The hardware model a machine's workflows are grouped under (as ``group_by=model``)."""
    found = (
        Machine.objects.filter(pk=machine_id)
        .annotate(model=_model_expression(""))
        .values_list("model", flat=True)
        .first()
    )
    return found or UNKNOWN_GROUP


def of_model(workflows: QuerySet[Workflow], model: str) -> QuerySet[Workflow]:
    return workflows.alias(model_group=_group_expression("model")).filter(model_group=model)


def side_by_side(summaries: list[tuple[str, PhaseSummary]]) -> PhaseSummary:
    """Several summaries (each ungrouped) as the rows of one table, each under its name."""
    groups = [
        PhaseGroup(name, summary.workflows, summary.groups[0].phases)
        for name, summary in summaries
        if summary.groups
    ]
    keys = [key for _, summary in summaries for key in summary.phase_keys]
    since = min((summary.since for _, summary in summaries), default=timezone.now())
    return PhaseSummary(
        "", since, sum(group.workflows for group in groups), groups, list(dict.fromkeys(keys))
    )


def _phase_order(keys: Iterable[str], action_order: dict[str, float]) -> list[str]:
    fixed = [key for key, _ in BOOT_PHASES]

    def rank(key: str) -> tuple[int, float, str]:
        if key in fixed:
            return (0, fixed.index(key), key)
        if key.startswith(ACTION_PREFIX):
            return (1, action_order.get(key, 0.0), key)
        return (2, 0, key)

    return sorted(set(keys), key=rank)


def phase_summary(
    workflows: QuerySet[Workflow],
    *,
    group_by: str = "",
    since: datetime,
    limit: int = SUMMARY_LIMIT,
) -> PhaseSummary:
    """p50/p95 of every phase over the finished workflows created since ``since``.

    ``workflows`` may be pre-filtered (a machine's, a template's). Three queries whatever the
    number of workflows; at most ``limit`` of the most recent are read.
    """
    if group_by not in GROUPINGS:
        raise ValueError(f"group_by: one of {', '.join(k for k in GROUPINGS if k)} (or none)")
    rows = list(
        workflows.filter(
            state__in=WORKFLOW_FINISHED, created_at__gte=since, started_at__isnull=False
        )
        .annotate(group=_group_expression(group_by))
        .order_by("-created_at", "-id")
        .values_list("id", "machine_id", "created_at", "finished_at", "state", "group")[:limit]
    )
    if not rows:
        return PhaseSummary(group_by, since, 0, [], [])
    actions: dict[int, list[tuple[str, datetime | None, datetime | None]]] = defaultdict(list)
    action_order: dict[str, list[int]] = defaultdict(list)
    for workflow_id, name, order, started_at, finished_at in (
        Action.objects.filter(task__workflow_id__in=[row[0] for row in rows])
        .order_by("task__workflow_id", "order")
        .values_list("task__workflow_id", "name", "order", "started_at", "finished_at")
        .iterator(chunk_size=5000)
    ):
        actions[workflow_id].append((name, started_at, finished_at))
        action_order[f"{ACTION_PREFIX}{name}"].append(order)
    earliest = min(row[2] for row in rows)
    latest = max((row[3] for row in rows if row[3] is not None), default=None)
    marks: dict[int, list[tuple[datetime, str]]] = defaultdict(list)
    machine_ids = {row[1] for row in rows}
    until = latest + NEXT_CONTACT_WINDOW if latest else None
    # Only the events inside some summarised workflow's window, chosen by the database: a busy
    # machine's log between its workflows (polls, hellos, other boots) is never read.
    in_a_window = Exists(
        Workflow.objects.filter(
            pk__in=[row[0] for row in rows],
            machine_id=OuterRef("machine_id"),
            created_at__lte=OuterRef("timestamp"),
            finished_at__gte=OuterRef("timestamp") - NEXT_CONTACT_WINDOW,
        )
    )
    for machine_id, moment, verb in (
        _marks_query(machine_ids, earliest, until).filter(in_a_window).iterator(chunk_size=10000)
    ):
        marks[machine_id].append((moment, verb))

    moments = {machine_id: [m for m, _ in found] for machine_id, found in marks.items()}
    durations: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    counts: dict[str, int] = defaultdict(int)
    for workflow_id, machine_id, created_at, finished_at, state, group in rows:
        machine_marks = marks.get(machine_id, [])
        # Only this workflow's window of the machine's events.
        times = moments.get(machine_id, [])
        low = bisect.bisect_left(times, created_at)
        end = (finished_at or created_at) + NEXT_CONTACT_WINDOW
        high = bisect.bisect_right(times, end)
        run = _Run(
            created_at=created_at,
            finished=True,
            succeeded=state == WorkflowState.SUCCESS,
            actions=actions.get(workflow_id, []),
        )
        counts[group] += 1
        for phase in _phases(run, machine_marks[low:high]):
            durations[group][phase.key].append(phase.seconds)

    mean_order = {key: sum(v) / len(v) for key, v in action_order.items()}
    all_keys = _phase_order((k for g in durations.values() for k in g), mean_order)
    groups = []
    for name in sorted(counts, key=lambda g: (-counts[g], str(g))):
        stats = []
        for key in all_keys:
            values = sorted(durations[name].get(key, []))
            if values:
                stats.append(
                    PhaseStats(
                        key, phase_label(key), len(values), percentile(values, 0.5),
                        percentile(values, 0.95),
                    )
                )  # fmt: skip
        groups.append(PhaseGroup(str(name), counts[name], stats))
    return PhaseSummary(group_by, since, len(rows), groups, all_keys)

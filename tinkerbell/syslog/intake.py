"""Syslog messages to log lines: which machine sent them, which action they belong to.

The machine is the one whose interface has the sender's address. Its running action gets the
line (stream ``syslog``, the next seq of the attempt, assigned here in arrival order, so a
message sent twice is stored twice and nothing is stored twice by us). When the machine runs no
action, or the tag names none of its running actions, the message goes to the machine's
timeline as a ``syslog.unattributed`` event — at most one per machine per minute, carrying how
many messages it stands for and the last one. Messages from an address no machine has are
counted and logged (rate-limited): there is no timeline to put them on.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from inventory.models import Machine, NetworkInterface
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from tinkerbell.syslog.parse import SyslogMessage
from workflows.logstore import LineRun, ParsedLine
from workflows.models import Action, LogLine
from workflows.services.logs import action_log_store
from workflows.states import ActionState

logger = logging.getLogger(__name__)
SYSLOG = Actor.system("syslog")
NOTICE_INTERVAL_SECONDS = 60.0
NUL_SHOWN_AS = "\u2400"


@dataclass(frozen=True)
class Received:
    source: str  # the sender's IP address
    message: SyslogMessage
    at: datetime = field(default_factory=timezone.now)


@dataclass
class IntakeResult:
    stored: int = 0
    unattributed: int = 0
    unknown_source: int = 0


@dataclass
class _Pending:
    """Messages not yet reported on a timeline (or in the server log) since the last notice."""

    count: int = 0
    last: str = ""
    next_notice: float = 0.0


class SyslogIntake:
    """One per receiving process: it remembers when it last reported unattributed messages."""

    def __init__(self, *, notice_interval: float = NOTICE_INTERVAL_SECONDS) -> None:
        self.notice_interval = notice_interval
        self._machine_notices: dict[int, _Pending] = defaultdict(_Pending)
        self._source_notices: dict[str, _Pending] = defaultdict(_Pending)

    def store(self, batch: list[Received]) -> IntakeResult:
        result = IntakeResult()
        by_source: dict[str, list[Received]] = defaultdict(list)
        for item in batch:
            by_source[item.source].append(item)
        interfaces = NetworkInterface.objects.select_related("machine").filter(
            ip__in=list(by_source)
        )
        machines = {str(nic.ip): nic.machine for nic in interfaces}
        for source, items in by_source.items():
            machine = machines.get(source)
            if machine is None:
                result.unknown_source += len(items)
                self._note_unknown_source(source, items)
                continue
            stored = self._store_for_machine(machine, items)
            result.stored += stored
            result.unattributed += len(items) - stored
        return result

    def _store_for_machine(self, machine: Machine, items: list[Received]) -> int:
        with transaction.atomic():
            running = list(
                Action.objects.select_for_update(of=("self",))
                .select_related("task")
                .filter(
                    state=ActionState.RUNNING,
                    task__worker__in=machine.interfaces.values("mac"),
                )
                .order_by("pk")
            )
            lines: dict[int, list[ParsedLine]] = defaultdict(list)
            left: list[Received] = []
            for item in items:
                action = _action_for(item.message, running)
                if action is None:
                    left.append(item)
                    continue
                text = item.message.text.replace("\x00", NUL_SHOWN_AS)
                lines[action.pk].append((LogLine.Stream.SYSLOG, item.at, item.at.isoformat(), text))
            for action in running:
                # Numbered here, in arrival order, after what the action has stored.
                run = LineRun(action.pk, action.attempt, action.log_seq + 1, lines[action.pk])
                action_log_store(action=action, run=run)
            if left:
                self._note_unattributed(machine, left)
        return len(items) - len(left)

    def _note_unattributed(self, machine: Machine, items: list[Received]) -> None:
        pending = self._machine_notices[machine.pk]
        pending.count += len(items)
        pending.last = items[-1].message.text[:500]
        now = time.monotonic()
        if now < pending.next_notice:
            return
        record_event(
            actor=SYSLOG,
            verb="syslog.unattributed",
            obj=machine,
            machine=machine,
            message=f"{pending.count} syslog message(s) with no running action to attribute "
            f"them to; the last: {pending.last}",
        )
        pending.count, pending.next_notice = 0, now + self.notice_interval

    def _note_unknown_source(self, source: str, items: list[Received]) -> None:
        pending = self._source_notices[source]
        pending.count += len(items)
        now = time.monotonic()
        if now < pending.next_notice:
            return
        logger.warning(
            "syslog: %d message(s) from %s, an address no machine's interface has; the last: %s",
            pending.count,
            source,
            items[-1].message.text[:200],
        )
        pending.count, pending.next_notice = 0, now + self.notice_interval


def _action_for(message: SyslogMessage, running: list[Action]) -> Action | None:
    """The running action a message belongs to: the one its tag names (action name, image or
    container name containing either), else the only one running."""
    tag = message.app
    if tag:
        for action in running:
            if action.name in tag or tag in (action.name, action.image):
                return action
    return running[0] if len(running) == 1 else None

"""Commands for many machines at once: PXE on or off, a tag, retirement.

Each takes the selection the operator confirmed (``inventory.selection``) and the digest the
confirmation page showed: when the filter no longer selects exactly those machines the
command refuses with SelectionChanged and changes nothing. The machines are locked by primary
key, in one order, before anything is read, and only the selected ones are ever touched; each
machine that changes gets its own event on its timeline, as a single command would record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from inventory.models import Machine, Tag
from inventory.selection import MachineSelection
from inventory.services import machine_transition
from inventory.states import MachineState
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event


@dataclass
class BulkResult:
    """What a bulk command did: the machines it changed, and those it left as they were."""

    changed: list[Machine] = field(default_factory=list)
    unchanged: list[tuple[Machine, str]] = field(default_factory=list)


def _locked(
    selection: MachineSelection, confirmed: str, *, with_tags: bool = False
) -> Sequence[Machine]:
    """The selected machines, locked, once the confirmed digest still names them."""
    selection.check(confirmed or "-")  # a command without a confirmed digest never runs
    machines = Machine.objects.select_for_update(of=("self",)).filter(pk__in=selection.ids)
    if with_tags:
        machines = machines.prefetch_related(
            Prefetch("tags", queryset=Tag.objects.order_by("name"))
        )
    return list(machines.order_by("pk"))


def _bulk_message(selection: MachineSelection, reason: str) -> str:
    text = (
        f"bulk command on {selection.count} machine{'s' if selection.count != 1 else ''} "
        f"(selection {selection.digest})"
    )
    return f"{text}: {reason}" if reason else text


@transaction.atomic
def machine_bulk_set_pxe(
    *, selection: MachineSelection, confirmed: str, allow: bool, actor: Actor, reason: str = ""
) -> BulkResult:
    """Netboot allowed (or denied) for every selected machine; a retired one is never
    allowed to netboot again."""
    result = BulkResult()
    to_change: list[Machine] = []
    for machine in _locked(selection, confirmed):
        if machine.allow_pxe == allow:
            result.unchanged.append((machine, f"PXE already {'allowed' if allow else 'denied'}"))
        elif allow and machine.state == MachineState.RETIRED:
            result.unchanged.append((machine, "retired: it does not netboot"))
        else:
            to_change.append(machine)
    Machine.objects.filter(pk__in=[m.pk for m in to_change]).update(
        allow_pxe=allow, updated_at=timezone.now()
    )
    message = _bulk_message(selection, reason)
    for machine in to_change:
        machine.allow_pxe = allow
        record_event(
            actor=actor,
            verb="machine.updated",
            obj=machine,
            machine=machine,
            changes={"allow_pxe": [not allow, allow]},
            message=message,
        )
        result.changed.append(machine)
    return result


@transaction.atomic
def machine_bulk_tag(
    *, selection: MachineSelection, confirmed: str, tag: Tag, actor: Actor
) -> BulkResult:
    """``tag`` added to every selected machine that lacks it; other tags stay."""
    result = BulkResult()
    Tag.objects.select_for_update().filter(pk=tag.pk).first()  # not deleted under us
    message = _bulk_message(selection, "")
    through = Machine.tags.through
    links = []
    for machine in _locked(selection, confirmed, with_tags=True):
        names = [t.name for t in machine.tags.all()]
        if tag.name in names:
            result.unchanged.append((machine, f"already tagged {tag.name}"))
            continue
        links.append(through(machine_id=machine.pk, tag_id=tag.pk))
        record_event(
            actor=actor,
            verb="machine.updated",
            obj=machine,
            machine=machine,
            changes={"tags": [names, sorted([*names, tag.name])]},
            message=message,
        )
        result.changed.append(machine)
    through.objects.bulk_create(links, ignore_conflicts=True)
    return result


@transaction.atomic
def machine_bulk_retire(
    *, selection: MachineSelection, confirmed: str, actor: Actor, reason: str = ""
) -> BulkResult:
    """Every selected machine retired through its lifecycle, as one retirement each (its
    workflows cancelled, power jobs ended, PXE off); all of them or, on an error, none."""
    result = BulkResult()
    message = _bulk_message(selection, reason)
    for machine in _locked(selection, confirmed):
        if machine.state == MachineState.RETIRED:
            result.unchanged.append((machine, "already retired"))
            continue
        result.changed.append(
            machine_transition(
                machine=machine, actor=actor, target=MachineState.RETIRED, reason=message
            )
        )
    return result

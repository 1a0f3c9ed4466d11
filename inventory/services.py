"""Every write to the inventory goes through these functions (views, API, admin, imports)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from inventory.fields import normalize_mac
from inventory.metadata_keys import keep_bookkeeping
from inventory.models import (
    BMC,
    Disk,
    Machine,
    NetworkInterface,
    PowerJob,
    Rack,
    Site,
    Tag,
)
from inventory.states import (
    MACHINE_LIFECYCLE,
    POWER_JOB_LIFECYCLE,
    MachineState,
    PowerJobState,
)
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.events import record_event
from rackpilot.core.services import (
    delete_with_event,
    editable_field_names,
    lock,
    save_with_event,
)

SITE_FIELDS = editable_field_names(Site)
RACK_FIELDS = editable_field_names(Rack)
TAG_FIELDS = editable_field_names(Tag)
# state, hardware and last_seen change only through their own services.
MACHINE_FIELDS = editable_field_names(Machine, exclude={"state", "hardware", "last_seen", "tags"})
INTERFACE_FIELDS = editable_field_names(NetworkInterface, exclude={"machine"})
DISK_FIELDS = editable_field_names(Disk, exclude={"machine"})
BMC_FIELDS = editable_field_names(BMC, exclude={"machine", "power_state", "power_state_at"})
NEW_MACHINE_STATES = {MachineState.DISCOVERED, MachineState.READY}


# --- tags, sites, racks -------------------------------------------------------------------


@transaction.atomic
def tag_create(*, actor: Actor, **values: Any) -> Tag:
    return save_with_event(
        Tag(), actor=actor, verb="tag.created", values=values, allowed=TAG_FIELDS
    )


@transaction.atomic
def tag_update(*, tag: Tag, actor: Actor, **values: Any) -> Tag:
    return save_with_event(
        lock(tag), actor=actor, verb="tag.updated", values=values, allowed=TAG_FIELDS
    )


@transaction.atomic
def tag_delete(*, tag: Tag, actor: Actor) -> None:
    delete_with_event(tag, actor=actor, verb="tag.deleted")


@transaction.atomic
def site_create(*, actor: Actor, **values: Any) -> Site:
    return save_with_event(
        Site(), actor=actor, verb="site.created", values=values, allowed=SITE_FIELDS
    )


@transaction.atomic
def site_update(*, site: Site, actor: Actor, **values: Any) -> Site:
    return save_with_event(
        lock(site), actor=actor, verb="site.updated", values=values, allowed=SITE_FIELDS
    )


@transaction.atomic
def site_delete(*, site: Site, actor: Actor) -> None:
    delete_with_event(site, actor=actor, verb="site.deleted")


@transaction.atomic
def rack_create(*, actor: Actor, **values: Any) -> Rack:
    return save_with_event(
        Rack(), actor=actor, verb="rack.created", values=values, allowed=RACK_FIELDS
    )


@transaction.atomic
def rack_update(*, rack: Rack, actor: Actor, **values: Any) -> Rack:
    rack = lock(rack)
    new_height = values.get("u_height", rack.u_height)
    if new_height < rack.u_height:
        too_high = (
            rack.machines.filter(position__isnull=False)
            .annotate(top=F("position") + F("u_height") - 1)
            .filter(top__gt=new_height)
        )
        names = [f"{m.hostname} (U{m.position}-U{m.top_unit})" for m in too_high[:5]]
        if names:
            raise ValidationError(
                {
                    "u_height": f"Machines would stick out of a {new_height}U rack: "
                    + ", ".join(names)
                    + "."
                }
            )
    return save_with_event(
        rack, actor=actor, verb="rack.updated", values=values, allowed=RACK_FIELDS
    )


@transaction.atomic
def rack_delete(*, rack: Rack, actor: Actor) -> None:
    delete_with_event(rack, actor=actor, verb="rack.deleted")


# --- machines ----------------------------------------------------------------------------


def _validate_placement(machine: Machine) -> None:
    """Inside the rack, and not over another machine. The caller holds the rack's row lock."""
    if machine.rack_id is None:
        if machine.position is not None:
            raise ValidationError({"position": "A position needs a rack."})
        return
    if machine.position is None:
        return
    rack = machine.rack
    assert rack is not None
    if machine.position < 1:
        raise ValidationError({"position": "Rack units start at 1."})
    top = machine.position + machine.u_height - 1
    if top > rack.u_height:
        raise ValidationError(
            {
                "position": f"A {machine.u_height}U machine at U{machine.position} would reach "
                f"U{top}, above the top of rack {rack.name} ({rack.u_height}U)."
            }
        )
    same_face_or_full = Q(full_depth=True) if not machine.full_depth else Q()
    if not machine.full_depth:
        same_face_or_full |= Q(face=machine.face)
    overlapping = (
        Machine.objects.filter(rack_id=machine.rack_id, position__isnull=False)
        .exclude(pk=machine.pk)
        .filter(same_face_or_full)
        .annotate(top=F("position") + F("u_height") - 1)
        .filter(position__lte=top, top__gte=machine.position)
        .order_by("position")
    )
    clash = overlapping.first()
    if clash is not None:
        raise ValidationError(
            {
                "position": f"U{machine.position}-U{top} of rack {rack.name} overlaps "
                f"{clash.hostname} (U{clash.position}-U{clash.top_unit})."
            }
        )


def _lock_rack(rack: Rack | None) -> None:
    if rack is not None:
        Rack.objects.select_for_update().filter(pk=rack.pk).first()


def _resolve_tags(tags: Iterable[Tag | str]) -> list[Tag]:
    resolved = []
    for tag in tags:
        if isinstance(tag, Tag):
            resolved.append(tag)
        else:
            found = Tag.objects.filter(Q(slug=tag) | Q(name=tag)).first()
            if found is None:
                raise ValidationError({"tags": f"Unknown tag '{tag}'."})
            resolved.append(found)
    return resolved


@transaction.atomic
def machine_create(
    *,
    actor: Actor,
    state: str = MachineState.READY,
    tags: Iterable[Tag | str] = (),
    **values: Any,
) -> Machine:
    if state not in NEW_MACHINE_STATES:
        raise ValidationError(
            {"state": f"A new machine starts as one of: {', '.join(sorted(NEW_MACHINE_STATES))}."}
        )
    machine = Machine(state=state)
    _lock_rack(values.get("rack"))
    for name in ("rack", "position", "u_height", "face", "full_depth"):
        if name in values:
            setattr(machine, name, values[name])
    _validate_placement(machine)
    machine = save_with_event(
        machine,
        actor=actor,
        verb="machine.created",
        values=values,
        allowed=MACHINE_FIELDS,
        own_timeline=True,
    )
    machine.tags.set(_resolve_tags(tags))
    return machine


@transaction.atomic
def machine_update(
    *, machine: Machine, actor: Actor, tags: Iterable[Tag | str] | None = None, **values: Any
) -> Machine:
    if "state" in values:
        raise ValidationError({"state": "Change the state with a transition, not an update."})
    machine = lock(machine)
    if "metadata" in values:
        values["metadata"] = keep_bookkeeping(machine.metadata, values["metadata"])
    _lock_rack(values.get("rack", machine.rack))
    for name in ("rack", "position", "u_height", "face", "full_depth"):
        if name in values:
            setattr(machine, name, values[name])
    _validate_placement(machine)
    machine = save_with_event(
        machine,
        actor=actor,
        verb="machine.updated",
        values=values,
        allowed=MACHINE_FIELDS,
        own_timeline=True,
    )
    if tags is not None:
        new_tags = _resolve_tags(tags)
        old_names = sorted(t.name for t in machine.tags.all())
        new_names = sorted(t.name for t in new_tags)
        if old_names != new_names:
            machine.tags.set(new_tags)
            record_event(
                actor=actor,
                verb="machine.updated",
                obj=machine,
                machine=machine,
                changes={"tags": [old_names, new_names]},
            )
    return machine


# Called, in the retiring transaction with the machine locked, by the apps above inventory that
# hold work for a machine (workflows cancels its workflows and revokes its agent tokens): a
# lower layer cannot import them, so they register here in their AppConfig.ready.
MachineRetireHook = Callable[[Machine, Actor, str], None]
MACHINE_RETIRE_HOOKS: list[MachineRetireHook] = []


def register_machine_retire_hook(hook: MachineRetireHook) -> None:
    if hook not in MACHINE_RETIRE_HOOKS:
        MACHINE_RETIRE_HOOKS.append(hook)


def _machine_retire_work(machine: Machine, actor: Actor, reason: str) -> None:
    """A retired machine keeps nothing to do: its queued power jobs fail (one already talking
    to the BMC cannot be called back and ends by itself), PXE is off and the upper layers end
    their work for it."""
    message = "cancelled: the machine was retired" + (f" ({reason})" if reason else "")
    queued = PowerJob.objects.select_for_update().filter(
        machine=machine, state=PowerJobState.QUEUED
    )
    for job in queued:
        POWER_JOB_LIFECYCLE.check(job.state, PowerJobState.FAILED)
        job.state = PowerJobState.FAILED
        job.error = message
        job.finished_at = timezone.now()
        job.save(update_fields=["state", "error", "finished_at"])
        record_event(
            actor=actor,
            verb="power_job.cancelled",
            obj=job,
            machine=machine,
            changes={"state": [PowerJobState.QUEUED, PowerJobState.FAILED]},
            message=message,
        )
    for hook in MACHINE_RETIRE_HOOKS:
        hook(machine, actor, reason)
    if machine.allow_pxe:
        Machine.objects.filter(pk=machine.pk).update(allow_pxe=False)
        record_event(
            actor=actor,
            verb="machine.updated",
            obj=machine,
            machine=machine,
            changes={"allow_pxe": [True, False]},
            message="PXE turned off: the machine was retired",
        )


@transaction.atomic
def machine_transition(*, machine: Machine, actor: Actor, target: str, reason: str = "") -> Machine:
    """Move a machine along its lifecycle; anything off the table raises MachineStateViolation.

    Retiring also ends everything the machine had to do, in the same transaction: its
    workflows are cancelled, its power jobs and agent tokens end and PXE is turned off."""
    machine = lock(machine)
    MACHINE_LIFECYCLE.check(machine.state, target)
    if target == MachineState.RETIRED:
        _machine_retire_work(machine, actor, reason)
        # Cancelling a workflow moves the machine (provisioning -> failed): read it again.
        machine.refresh_from_db()
    current = machine.state
    MACHINE_LIFECYCLE.check(current, target)
    machine.state = target
    machine.save(update_fields=["state", "updated_at"])
    record_event(
        actor=actor,
        verb="machine.state_changed",
        obj=machine,
        machine=machine,
        changes={"state": [current, target]},
        message=reason,
    )
    return machine


class NotDiscoveredError(ConflictError):
    """Only a machine discovery enrolled is accepted; others have been accepted already."""

    code = "not_discovered"


@transaction.atomic
def machine_accept(
    *, machine: Machine, actor: Actor, tags: Iterable[Tag | str] | None = None, **values: Any
) -> Machine:
    """An operator (or a discovery rule) takes a discovered machine into the fleet: give it
    its name and rack place (``values`` as for an update), then it is ``ready``."""
    machine = lock(machine)
    if machine.state != MachineState.DISCOVERED:
        raise NotDiscoveredError(
            f"{machine.hostname} is {machine.state}; only a discovered machine can be accepted."
        )
    if values or tags is not None:
        machine = machine_update(machine=machine, actor=actor, tags=tags, **values)
    machine = machine_transition(
        machine=machine, actor=actor, target=MachineState.READY, reason="accepted"
    )
    record_event(actor=actor, verb="machine.accepted", obj=machine, machine=machine)
    return machine


@transaction.atomic
def machine_delete(*, machine: Machine, actor: Actor) -> None:
    machine = lock(machine)
    if machine.state in {MachineState.PROVISIONING, MachineState.DEPROVISIONING}:
        raise ValidationError(
            {"state": f"Machine {machine.hostname} is {machine.state}; wait or retire it first."}
        )
    delete_with_event(machine, actor=actor, verb="machine.deleted", machine=machine)


def machines_mark_seen(*, machine_ids: Iterable[int], when: datetime) -> None:
    """Netboot requests showed these machines alive: one UPDATE for a group of scripts."""
    Machine.objects.filter(pk__in=sorted(set(machine_ids))).update(last_seen=when)


@transaction.atomic(savepoint=False)  # nothing carries on past its errors; called per script
def machine_mark_seen(*, machine: Machine, hardware: dict[str, Any] | None = None) -> Machine:
    """An agent or a netboot request showed the machine is alive (and what it is made of)."""
    if hardware is None:
        # Nothing is read to decide: one UPDATE, no lock (netboot marks a machine per script).
        machine.last_seen = timezone.now()
        Machine.objects.filter(pk=machine.pk).update(last_seen=machine.last_seen)
        return machine
    fields = ["last_seen"]
    machine = lock(machine)
    machine.last_seen = timezone.now()
    if hardware is not None and hardware != machine.hardware:
        machine.hardware = hardware
        fields.append("hardware")
        record_event(
            actor=Actor.agent(machine.hostname),
            verb="machine.hardware_reported",
            obj=machine,
            machine=machine,
        )
    machine.save(update_fields=fields)
    return machine


# --- interfaces, disks, BMC -----------------------------------------------------------------


def _check_mac_free(mac: str, *, exclude_pk: int | None = None) -> str:
    try:
        normalized = normalize_mac(mac)
    except ValidationError as exc:
        raise ValidationError({"mac": exc.messages}) from exc
    others = NetworkInterface.objects.select_related("machine").filter(mac=normalized)
    if exclude_pk is not None:
        others = others.exclude(pk=exclude_pk)
    holder = others.first()
    if holder is not None:
        raise ValidationError(
            {
                "mac": f"MAC address {normalized} is already used by "
                f"{holder.name or 'an interface'} of machine {holder.machine.hostname}."
            }
        )
    return normalized


def _demote_boot_interfaces(*, machine_id: int, actor: Actor, keep_pk: int | None = None) -> None:
    """Clear the boot flag of the machine's other interfaces, recording each change."""
    demoted = NetworkInterface.objects.filter(machine_id=machine_id, is_boot=True)
    if keep_pk is not None:
        demoted = demoted.exclude(pk=keep_pk)
    for other in demoted:
        other.is_boot = False
        other.save(update_fields=["is_boot"])
        record_event(
            actor=actor,
            verb="interface.updated",
            obj=other,
            machine=machine_id,
            changes={"is_boot": [True, False]},
        )


@transaction.atomic
def interface_create(*, machine: Machine, actor: Actor, **values: Any) -> NetworkInterface:
    machine = lock(machine)  # serialises boot-interface changes of this machine
    if "mac" in values:
        values["mac"] = _check_mac_free(values["mac"])
    if not machine.interfaces.filter(is_boot=True).exists():
        values.setdefault("is_boot", True)
    if values.get("is_boot"):
        _demote_boot_interfaces(machine_id=machine.pk, actor=actor)
    interface = NetworkInterface(machine=machine)
    return save_with_event(
        interface,
        actor=actor,
        verb="interface.created",
        values=values,
        allowed=INTERFACE_FIELDS,
        machine=machine,
    )


@transaction.atomic
def interface_update(
    *, interface: NetworkInterface, actor: Actor, **values: Any
) -> NetworkInterface:
    lock(interface.machine)
    interface = lock(interface)
    if "mac" in values:
        values["mac"] = _check_mac_free(values["mac"], exclude_pk=interface.pk)
    if values.get("is_boot"):
        _demote_boot_interfaces(machine_id=interface.machine_id, actor=actor, keep_pk=interface.pk)
    return save_with_event(
        interface,
        actor=actor,
        verb="interface.updated",
        values=values,
        allowed=INTERFACE_FIELDS,
        machine=interface.machine_id,
    )


@transaction.atomic
def interface_delete(*, interface: NetworkInterface, actor: Actor) -> None:
    delete_with_event(
        interface, actor=actor, verb="interface.deleted", machine=interface.machine_id
    )


@transaction.atomic
def disk_create(*, machine: Machine, actor: Actor, **values: Any) -> Disk:
    return save_with_event(
        Disk(machine=machine),
        actor=actor,
        verb="disk.created",
        values=values,
        allowed=DISK_FIELDS,
        machine=machine,
    )


@transaction.atomic
def disk_update(*, disk: Disk, actor: Actor, **values: Any) -> Disk:
    return save_with_event(
        lock(disk),
        actor=actor,
        verb="disk.updated",
        values=values,
        allowed=DISK_FIELDS,
        machine=disk.machine_id,
    )


@transaction.atomic
def disk_delete(*, disk: Disk, actor: Actor) -> None:
    delete_with_event(disk, actor=actor, verb="disk.deleted", machine=disk.machine_id)


def _apply_password(bmc: BMC, password: str | None) -> bool:
    if password is None:
        return False
    bmc.set_password(password)
    return True


@transaction.atomic
def bmc_create(
    *, machine: Machine, actor: Actor, password: str | None = None, **values: Any
) -> BMC:
    if BMC.objects.filter(machine=machine).exists():
        raise ValidationError({"machine": f"Machine {machine.hostname} already has a BMC."})
    bmc = BMC(machine=machine)
    _apply_password(bmc, password)
    return save_with_event(
        bmc, actor=actor, verb="bmc.created", values=values, allowed=BMC_FIELDS, machine=machine
    )


@transaction.atomic
def bmc_update(*, bmc: BMC, actor: Actor, password: str | None = None, **values: Any) -> BMC:
    bmc = lock(bmc)
    bmc = save_with_event(
        bmc,
        actor=actor,
        verb="bmc.updated",
        values=values,
        allowed=BMC_FIELDS,
        machine=bmc.machine_id,
    )
    if _apply_password(bmc, password):
        bmc.save(update_fields=["password_encrypted"])
        # The event says the password changed, never what it is.
        record_event(actor=actor, verb="bmc.password_changed", obj=bmc, machine=bmc.machine_id)
    return bmc


@transaction.atomic
def bmc_delete(*, bmc: BMC, actor: Actor) -> None:
    delete_with_event(bmc, actor=actor, verb="bmc.deleted", machine=bmc.machine_id)

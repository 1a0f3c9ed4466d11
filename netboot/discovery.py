"""Discovery: an unknown machine's agent says hello with a discovery token and is enrolled as a
``discovered`` machine with the NICs and disks it reported; discovery rules may then accept it
and start a workflow on it.

The hardware comes from an agent nobody has vouched for yet, so every value is checked and
cut to size, and a NIC or disk the inventory refuses is left out (and named on the timeline)
instead of failing the whole enrolment.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction

from inventory import services as inventory_services
from inventory.fields import normalize_mac
from inventory.models import Machine, NetworkInterface
from inventory.states import MachineState
from netboot.models import DiscoveryRule
from netboot.rules import all_hold, machine_attributes
from rackpilot.core.actors import Actor
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.events import record_event
from rackpilot.core.json_shapes import as_object, objects_in
from rackpilot.core.models import Event
from rackpilot.core.services import delete_with_event, editable_field_names, lock, save_with_event
from rackpilot.core.statemachine import TransitionError
from workflows.models import AgentToken, Workflow
from workflows.services.engine import workflow_create

DISCOVERY = Actor.system("discovery")
RULE_FIELDS = editable_field_names(DiscoveryRule)
ARCHES = {"x86_64": Machine.Arch.X86_64, "amd64": Machine.Arch.X86_64}
ARCHES |= {"aarch64": Machine.Arch.AARCH64, "arm64": Machine.Arch.AARCH64}


def discovered_hostname(mac: str) -> str:
    return "discovered-" + mac.replace(":", "")


def _text(value: Any, limit: int) -> str:
    return value.strip()[:limit] if isinstance(value, str) else ""


def _machine_values(mac: str, hardware: dict[str, Any]) -> dict[str, Any]:
    values: dict[str, Any] = {
        "hostname": discovered_hostname(mac),
        "arch": ARCHES.get(
            _text(as_object(hardware.get("cpu")).get("arch"), 16), Machine.Arch.X86_64
        ),
        "serial_number": _text(as_object(hardware.get("dmi")).get("product_serial"), 100),
        "description": f"Enrolled by discovery when {mac} netbooted.",
    }
    if hardware.get("firmware") in ("uefi", "bios"):
        values["uefi"] = hardware["firmware"] == "uefi"
    return values


def _add_parts(machine: Machine, mac: str, hardware: dict[str, Any]) -> list[str]:
    """Create the reported NICs and disks; returns what was left out and why."""
    skipped: list[str] = []
    nics = objects_in(hardware.get("nics"))
    boot = next((n for n in nics if _text(n.get("mac"), 32).lower() == mac), {"mac": mac})
    others = [n for n in nics if n is not boot and n.get("physical", True)]
    for nic in [boot, *others]:
        values = {"mac": _text(nic.get("mac"), 32), "name": _text(nic.get("name"), 32)}
        if not values["mac"]:
            continue
        try:
            with transaction.atomic():
                inventory_services.interface_create(
                    machine=machine, actor=DISCOVERY, is_boot=nic is boot, **values
                )
        except ValidationError as exc:
            if nic is boot:
                raise
            skipped.append(f"NIC {values['mac']}: {'; '.join(exc.messages)}")
    for disk in objects_in(hardware.get("disks")):
        size = disk.get("size_bytes")
        disk_values: dict[str, Any] = {
            "device": _text(disk.get("device"), 100),
            "size_bytes": size if isinstance(size, int) and size >= 0 else None,
            "model": _text(disk.get("model"), 100),
            "serial": _text(disk.get("serial"), 100),
        }
        try:
            with transaction.atomic():
                inventory_services.disk_create(machine=machine, actor=DISCOVERY, **disk_values)
        except ValidationError as exc:
            skipped.append(f"disk {disk_values['device'] or '?'}: {'; '.join(exc.messages)}")
    return skipped


def _enrol(mac: str, hardware: dict[str, Any]) -> Machine:
    machine = inventory_services.machine_create(
        actor=DISCOVERY, state=MachineState.DISCOVERED, **_machine_values(mac, hardware)
    )
    skipped = _add_parts(machine, mac, hardware)
    machine = inventory_services.machine_mark_seen(machine=machine, hardware=hardware)
    record_event(
        actor=DISCOVERY,
        verb="machine.discovered",
        obj=machine,
        machine=machine,
        changes={
            "mac": mac,
            "interfaces": machine.interfaces.count(),
            "disks": machine.disks.count(),
            "skipped": skipped,
        },
        message=f"{mac} enrolled by discovery",
    )
    return machine


def waiting_refusal() -> str:
    """Why no more machines may be enrolled now ("" while they may)."""
    cap = settings.NETBOOT_DISCOVERY_MAX_WAITING
    waiting = Machine.objects.filter(state=MachineState.DISCOVERED).count()
    if waiting >= cap:
        return (
            f"{waiting} discovered machines are waiting for acceptance, the most "
            "NETBOOT_DISCOVERY_MAX_WAITING allows: accept or delete some first"
        )
    return ""


def _refuse_known(mac: str) -> None:
    """A discovery token enrols an unknown MAC once. A MAC the inventory has (a machine that
    is waiting for acceptance included) netboots with its machine's own nonce: a second
    discovery token for it would be a second, unvetted way in to that machine's agent."""
    interface = NetworkInterface.objects.select_related("machine").filter(mac=mac).first()
    if interface is None:
        return
    machine = interface.machine
    if machine.state == MachineState.DISCOVERED:
        raise PermissionDenied(
            f"{mac} is already waiting for acceptance as {machine.hostname}: a second discovery "
            "token is refused (netboot gives the machine its own nonce)"
        )
    raise PermissionDenied(
        f"{mac} belongs to {machine.hostname}, which is {machine.state}: it netboots with "
        "its own token, not a discovery token"
    )


@transaction.atomic
def machine_discover(
    *, token: AgentToken, worker_id: str, hardware: dict[str, Any] | None
) -> Machine:
    """The machine a discovery token's agent is on: enrolled on its first hello, the same one
    after. The token is bound to the machine, so it then works like the machine's own."""
    locked = lock(token)
    if locked.machine_id is not None:
        token.machine = locked.machine
        return locked.machine  # type: ignore[return-value]
    if not settings.NETBOOT_DISCOVERY:
        # Turning discovery off also stops the tokens it handed out from enrolling machines.
        raise PermissionDenied("discovery is off: this token cannot enrol a machine")
    try:
        mac = normalize_mac(worker_id)
    except ValidationError as exc:
        raise ValidationError({"worker_id": exc.messages}) from exc
    if locked.mac and mac != locked.mac:
        raise PermissionDenied(f"this discovery token was issued to {locked.mac}, not to {mac}")
    _refuse_known(mac)
    if refusal := waiting_refusal():
        raise PermissionDenied(refusal)
    try:
        # Two boots of one machine (two tokens) may race to enrol it: one wins, the other is
        # refused as a second token.
        with transaction.atomic():
            machine = _enrol(mac, as_object(hardware))
    except IntegrityError:
        _refuse_known(mac)
        raise
    locked.machine = machine
    locked.save(update_fields=["machine"])
    token.machine = machine
    # The boot that brought it here happened before it had a timeline: put it there now.
    Event.objects.filter(
        verb="netboot.discovery_script_served",
        content_type=ContentType.objects.get_for_model(AgentToken),
        object_id=str(locked.pk),
        machine__isnull=True,
    ).update(machine=machine)
    record_event(
        actor=Actor.agent(mac),
        verb="agent_token.bound",
        obj=locked,
        machine=machine,
        message=f"discovery token {locked.prefix}… now belongs to {machine.hostname}",
    )
    if machine.state == MachineState.DISCOVERED:
        discovery_rules_apply(machine=machine)
    return machine


def rule_attributes(machine: Machine) -> dict[str, Any]:
    # Over all() rather than a query: lists prefetch the interfaces.
    boot = next((i for i in machine.interfaces.all() if i.is_boot), None)
    return machine_attributes(
        hardware=as_object(machine.hardware), mac=boot.mac if boot else "", arch=machine.arch
    )


def discovery_rule_matching(*, machine: Machine) -> DiscoveryRule | None:
    """The first enabled rule, by priority, whose conditions the machine's hardware meets."""
    attributes = rule_attributes(machine)
    for rule in DiscoveryRule.objects.filter(enabled=True).select_related("template"):
        if all_hold(rule.parsed_conditions(), attributes):
            return rule
    return None


@transaction.atomic
def discovery_rules_apply(*, machine: Machine) -> Workflow | None:
    """Accept a discovered machine and start the first matching rule's workflow on it.

    A rule whose workflow cannot start (its template does not render for this machine, say)
    leaves the machine discovered and says why on its timeline.
    """
    rule = discovery_rule_matching(machine=machine)
    if rule is None:
        return None
    return _apply(rule, machine, actor=Actor.system(f"discovery rule {rule.name}"))


def _apply(rule: DiscoveryRule, machine: Machine, *, actor: Actor) -> Workflow | None:
    try:
        with transaction.atomic():
            machine = inventory_services.machine_accept(machine=machine, actor=actor)
            workflow = workflow_create(
                template=rule.template,
                machine=machine,
                actor=actor,
                disable_pxe_on_success=rule.disable_pxe_on_success,
            )
    except (ValidationError, TransitionError, ConflictError) as exc:
        reason = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
        record_event(
            actor=actor,
            verb="discovery.rule_failed",
            obj=rule,
            machine=machine,
            message=f"{rule.template.name} could not start: {reason}",
        )
        return None
    record_event(
        actor=actor,
        verb="discovery.rule_applied",
        obj=rule,
        machine=machine,
        changes={"workflow": workflow.pk, "template": rule.template.name},
        message=f"workflow #{workflow.pk} from {rule.template.name}",
    )
    return workflow


@dataclass
class RuleRun:
    started: list[Workflow] = field(default_factory=list)
    failed: list[Machine] = field(default_factory=list)  # reasons are on their timelines


@transaction.atomic
def discovery_rule_apply_now(*, rule: DiscoveryRule, actor: Actor) -> RuleRun:
    """Run ``rule`` over the machines already waiting: those its conditions match are accepted
    and get its workflow, as if they had been discovered after the rule was written. Each
    machine succeeds or fails on its own; a disabled rule is run too (the operator asked)."""
    conditions = rule.parsed_conditions()
    run = RuleRun()
    waiting = Machine.objects.select_for_update(of=("self",)).filter(state=MachineState.DISCOVERED)
    for machine in waiting.prefetch_related("interfaces").order_by("created_at", "pk"):
        if not all_hold(conditions, rule_attributes(machine)):
            continue
        workflow = _apply(rule, machine, actor=actor)
        if workflow is None:
            run.failed.append(machine)
        else:
            run.started.append(workflow)
    record_event(
        actor=actor,
        verb="discovery_rule.applied",
        obj=rule,
        changes={"started": len(run.started), "failed": len(run.failed)},
        message=f"{len(run.started)} workflows started, {len(run.failed)} machines refused",
    )
    return run


# --- rules ----------------------------------------------------------------------------------


@transaction.atomic
def discovery_rule_create(*, actor: Actor, **values: Any) -> DiscoveryRule:
    return save_with_event(
        DiscoveryRule(),
        actor=actor,
        verb="discovery_rule.created",
        values=values,
        allowed=RULE_FIELDS,
    )


@transaction.atomic
def discovery_rule_update(*, rule: DiscoveryRule, actor: Actor, **values: Any) -> DiscoveryRule:
    return save_with_event(
        lock(rule), actor=actor, verb="discovery_rule.updated", values=values, allowed=RULE_FIELDS
    )


@transaction.atomic
def discovery_rule_delete(*, rule: DiscoveryRule, actor: Actor) -> None:
    delete_with_event(lock(rule), actor=actor, verb="discovery_rule.deleted")

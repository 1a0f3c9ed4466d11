"""The inventory's first-run step: the demo fleet in an empty inventory."""

from __future__ import annotations

from inventory.demo import DemoFleetError, demo_fleet_load
from inventory.models import Machine
from rackpilot.core.actors import Actor


def load_demo_fleet(actor: Actor, demo: bool) -> str | None:
    if not demo:
        return None
    machines = Machine.objects.count()
    if machines:
        return f"Inventory has {machines} machine(s); demo fleet not loaded."
    try:
        loaded = demo_fleet_load(actor=actor)
    except DemoFleetError as exc:
        return f"Demo fleet not loaded: {exc}"
    states = ", ".join(f"{count} {state}" for state, count in loaded["states"].items())
    return (
        f"Loaded the demo fleet: {loaded['sites']} sites, {loaded['racks']} racks, "
        f"{loaded['machines']} machines ({states}), {loaded['interfaces']} interfaces, "
        f"{loaded['disks']} disks, {loaded['bmcs']} BMCs."
    )

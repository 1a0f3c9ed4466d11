"""A Workflow's ``spec.bootOptions`` (``bootOpts`` before the tinkerbell/tinkerbell monorepo).

toggleAllowNetboot: true     allow_pxe on when the workflow is created, off after success
bootMode: netboot            the BMC sets PXE for the next boot and power-cycles the machine
bootMode: customboot         custombootConfig.preparingActions run when the workflow is
                             created, postActions after it succeeded; each list becomes one
                             power job (Rackpilot runs one power job per machine at a time):
                             its bootDevice (pxe or disk, persistent or not) is set first,
                             then its power action (on, off, soft, cycle, reset; "off" then
                             "on" is a cycle; a list without one only sets the boot device)
bootMode: isoboot / iso, isoURL, virtualMediaAction, bootDevice cdrom/bios/safe
                             refused: they need the BMC's virtual media or boot targets that
                             Rackpilot's power services do not drive
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tinkerbell.formats.documents import _Reader

# Tinkerbell's power actions -> Rackpilot's (inventory PowerJob.Action); status only reads.
POWER_ACTIONS = {"on": "on", "off": "off", "soft": "soft_off", "cycle": "cycle", "reset": "reset"}
BOOT_DEVICES = {"pxe", "disk"}
ISO_MODES = {"isoboot", "iso"}
VIRTUAL_MEDIA = (
    "virtual media (an ISO through the BMC) is not something Rackpilot's power services can "
    "do; boot the machine by netboot (bootMode: netboot) instead"
)


@dataclass
class BootPlan:
    disable_pxe_on_success: bool = False
    enable_pxe_at_start: bool = False
    boot_into_pxe: bool = False
    boot_power: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Where each option came from, so that a failure at creation names its field.
    path: str = "spec.bootOptions"


def _power_job(
    r: _Reader, actions: Any, path: str, warn: Callable[[str], None]
) -> dict[str, Any] | None:
    """One phase's list of BMC actions, as the single power job that does the same."""
    if actions is None:
        return None
    if not isinstance(actions, list):
        r.error(path, f"expected a list, got {actions!r}")
        return None
    powers: list[str] = []
    device: dict[str, Any] = {}
    for index, item in enumerate(actions):
        where = f"{path}[{index}]"
        if not isinstance(item, dict):
            r.error(where, f"expected a mapping, got {item!r}")
            continue
        item = dict(item)
        if item.pop("virtualMediaAction", None) is not None:
            r.error(f"{where}.virtualMediaAction", VIRTUAL_MEDIA)
        action = r.take(item, "powerAction", f"{where}.powerAction", str)
        if action is not None and action != "status":
            if action not in POWER_ACTIONS:
                r.error(
                    f"{where}.powerAction",
                    f"{action!r} is not a power action (one of on, off, soft, cycle, reset, "
                    "status)",
                )
            else:
                powers.append(POWER_ACTIONS[action])
        boot = r.take(item, "bootDevice", f"{where}.bootDevice", dict)
        if boot is not None:
            boot = dict(boot)
            name = r.take(boot, "device", f"{where}.bootDevice.device", str, required=True)
            if name is not None and name not in BOOT_DEVICES:
                r.error(
                    f"{where}.bootDevice.device",
                    f"{name!r}: Rackpilot's power services set pxe or disk only",
                )
            persistent = bool(r.take(boot, "persistent", f"{where}.bootDevice.persistent", bool))
            if r.take(boot, "efiBoot", f"{where}.bootDevice.efiBoot", bool):
                warn(
                    f"{where}.bootDevice.efiBoot: the machine keeps the boot mode its firmware "
                    "is set to; Rackpilot sets the boot device only"
                )
            device = {"boot_device": name or "", "persistent": persistent}
        for key in item:
            warn(f"{where}.{key}: not a BMC action Rackpilot knows; ignored")
    if not powers and not device:
        return None
    if len(powers) <= 1:
        action = powers[0] if powers else "status"
    elif powers == ["off", "on"]:
        action = "cycle"
    else:
        r.error(
            path,
            f"power actions {powers}: Rackpilot sends one power command per phase "
            '("off" then "on" becomes a cycle); give one',
        )
        return None
    return {"action": action, "boot_device": "", "persistent": False, **device}


def read_boot_options(spec: dict[str, Any], r: _Reader, warn: Callable[[str], None]) -> BootPlan:
    path = "spec.bootOptions" if "bootOptions" in spec else "spec.bootOpts"
    boot = dict(r.take(spec, path.removeprefix("spec."), path, dict) or {})
    plan = BootPlan(path=path)
    toggle = bool(r.take(boot, "toggleAllowNetboot", f"{path}.toggleAllowNetboot", bool))
    plan.disable_pxe_on_success = plan.enable_pxe_at_start = toggle
    mode = r.take(boot, "bootMode", f"{path}.bootMode", str) or ""
    if r.take(boot, "isoURL", f"{path}.isoURL", str):
        r.error(f"{path}.isoURL", VIRTUAL_MEDIA)
    custom = r.take(boot, "custombootConfig", f"{path}.custombootConfig", dict)
    if mode in ISO_MODES:
        r.error(f"{path}.bootMode", f"{mode}: {VIRTUAL_MEDIA}")
    elif mode == "netboot":
        plan.boot_into_pxe = True
    elif mode == "customboot":
        custom = dict(custom or {})
        cpath = f"{path}.custombootConfig"
        for key, phase in (("preparingActions", "start"), ("postActions", "success")):
            job = _power_job(r, custom.pop(key, None), f"{cpath}.{key}", warn)
            if job is not None:
                plan.boot_power[phase] = job
        for key in custom:
            warn(f"{cpath}.{key}: not a custom boot field Rackpilot knows; ignored")
        custom = None
    elif mode:
        r.error(f"{path}.bootMode", f"{mode!r} is not a boot mode (netboot, customboot, isoboot)")
    if custom is not None:
        warn(f"{path}.custombootConfig: used only with bootMode: customboot; ignored")
    for key in boot:
        warn(f"{path}.{key}: not a boot option Rackpilot knows; ignored")
    return plan

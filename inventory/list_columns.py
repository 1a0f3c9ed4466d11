"""The columns of the inventory's list pages (machines, power jobs) and of their CSV exports.

Values read only what the list's queryset already loads (related rows by select_related or a
prefetch), so an export costs the same queries for three rows as for three thousand. No
column reads a secret: BMC passwords, user and vendor data, metadata and iPXE scripts are not
here and so never leave through a list or its export.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from inventory.models import Machine, PowerJob
from rackpilot.core.columns import Column, column_set


def _boot_nic(machine: Machine) -> Any:
    # The list's prefetch orders the boot interface first; no query of its own.
    nics = list(machine.interfaces.all())
    return nics[0] if nics else None


def _bmc(machine: Machine) -> Any:
    return getattr(machine, "bmc", None)


def _units(machine: Machine) -> str:
    if machine.position is None:
        return ""
    if machine.u_height > 1:
        return f"U{machine.position}-{machine.top_unit}"
    return f"U{machine.position}"


MACHINE_COLUMNS = column_set(
    "machines",
    [
        Column("id", "ID", lambda m: m.pk, default=False),
        Column("hostname", "Hostname", lambda m: m.hostname, sort="hostname", locked=True),
        Column("state", "State", lambda m: m.state, sort="state"),
        Column("site", "Site", lambda m: m.rack.site.name if m.rack else None, sort="site"),
        Column("rack", "Rack", lambda m: m.rack.name if m.rack else None, sort="rack"),
        Column("position", "U", _units, sort="position"),
        Column("arch", "Arch", lambda m: m.arch, sort="arch"),
        Column("firmware", "Firmware", lambda m: "UEFI" if m.uefi else "BIOS", default=False),
        Column("mac", "Boot MAC", lambda m: getattr(_boot_nic(m), "mac", None)),
        Column("ip", "IP", lambda m: getattr(_boot_nic(m), "ip", None)),
        Column("bmc", "BMC", lambda m: getattr(_bmc(m), "protocol", None)),
        Column(
            "bmc_address", "BMC address", lambda m: getattr(_bmc(m), "address", None), default=False
        ),
        Column("power", "Power", lambda m: getattr(_bmc(m), "power_state", None), default=False),
        Column("pxe", "PXE", lambda m: m.allow_pxe, default=False),
        Column("allow_workflow", "Workflows", lambda m: m.allow_workflow, default=False),
        Column("serial", "Serial", lambda m: m.serial_number, default=False),
        Column("tags", "Tags", lambda m: [tag.name for tag in m.tags.all()]),
        Column("description", "Description", lambda m: m.description, default=False),
        Column("last_seen", "Last seen", lambda m: m.last_seen, sort="last_seen"),
    ],
)
# Large or secret fields no machine column reads; the export leaves them in the database.
MACHINE_EXPORT_DEFER = ("metadata", "user_data", "vendor_data", "ipxe_script", "hardware")


# The power job list's fields; the machine's other fields stay in the database.
POWER_JOB_LIST_FIELDS = (
    "machine",
    "action",
    "boot_device",
    "persistent",
    "state",
    "error",
    "power_state",
    "requested_by",
    "reason",
    "created_at",
    "started_at",
    "finished_at",
)


def power_job_rows() -> QuerySet[PowerJob]:
    """Every power job, newest first, with what the list and its export show."""
    return (
        PowerJob.objects.select_related("machine")
        .only(*POWER_JOB_LIST_FIELDS, "machine__hostname")
        .order_by("-created_at", "-pk")
    )


def _command(job: PowerJob) -> str:
    if not job.boot_device:
        return job.get_action_display()
    when = "always" if job.persistent else "once"
    return f"{job.get_action_display()} (boot {job.get_boot_device_display()} {when})"


POWER_JOB_COLUMNS = column_set(
    "power-jobs",
    [
        Column("id", "ID", lambda j: j.pk, default=False),
        Column("created", "When", lambda j: j.created_at, sort="created", locked=True),
        Column("machine", "Machine", lambda j: j.machine.hostname, sort="machine"),
        Column("command", "Command", _command),
        Column("state", "State", lambda j: j.state, sort="state"),
        Column("requested_by", "Requested by", lambda j: j.requested_by),
        Column("reason", "Reason", lambda j: j.reason),
        Column("result", "Result", lambda j: j.error or j.power_state),
        Column("started", "Started", lambda j: j.started_at, default=False),
        Column("finished", "Finished", lambda j: j.finished_at, sort="finished"),
        Column("duration", "Duration", lambda j: j.duration),
    ],
)

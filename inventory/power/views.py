"""The Power card of the machine page: power commands and the jobs they queued; and the bulk
power page, one command for every machine the machine list's filter selects; and the list of
every power job, across machines.

Every command goes through ``power_job_request``; the BMC is only ever driven by the worker
that runs the job, so these views answer at once however slow the BMC is.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import (
    Count,
    Exists,
    OuterRef,
    Q,
)
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from inventory.filtersets import PowerJobFilterSet
from inventory.list_columns import POWER_JOB_COLUMNS, power_job_rows
from inventory.models import BMC, Machine, PowerJob
from inventory.power.forms import PowerBulkForm
from inventory.power.services import PowerBusyError, power_job_request, power_jobs_request_bulk
from inventory.selection import bulk_page
from inventory.states import POWER_JOB_ACTIVE_STATES, PowerJobState
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.listing import list_page

RECENT_POWER_JOBS = 5
Action = PowerJob.Action


@dataclass(frozen=True)
class PowerButton:
    action: str
    label: str
    icon: str
    style: str
    boot_device: str = ""
    # Text of the browser's confirmation dialog; empty for commands that lose nothing.
    confirm: str = ""


@dataclass(frozen=True)
class PowerCard:
    jobs: list[PowerJob]
    buttons: list[PowerButton]

    @property
    def active_job(self) -> PowerJob | None:
        """The queued or running job; the card polls while there is one."""
        return next((job for job in self.jobs if job.state in POWER_JOB_ACTIVE_STATES), None)


def power_buttons(machine: Machine) -> list[PowerButton]:
    host = machine.hostname
    return [
        PowerButton(Action.ON, "Power on", "bi-power", "btn-outline-success"),
        PowerButton(
            Action.OFF,
            "Power off",
            "bi-power",
            "btn-outline-danger",
            confirm=f"Power off {host}? The OS is not asked to shut down: unsaved data is lost.",
        ),
        PowerButton(Action.SOFT_OFF, "Soft off", "bi-moon", "btn-outline-secondary"),
        PowerButton(
            Action.CYCLE,
            "Power cycle",
            "bi-arrow-repeat",
            "btn-outline-danger",
            confirm=f"Power cycle {host}? It goes off without a shutdown and boots again.",
        ),
        PowerButton(
            Action.RESET,
            "Reset",
            "bi-bootstrap-reboot",
            "btn-outline-danger",
            confirm=f"Reset {host}? It reboots at once, without a shutdown.",
        ),
        PowerButton(
            Action.CYCLE,
            "Boot into PXE",
            "bi-hdd-network",
            "btn-outline-primary",
            boot_device=PowerJob.BootDevice.PXE,
            confirm=f"Power cycle {host} into PXE? It reboots without a shutdown and "
            "netboots once.",
        ),
        PowerButton(Action.STATUS, "Refresh state", "bi-arrow-clockwise", "btn-outline-secondary"),
        *(
            [PowerButton(Action.INVENTORY, "Read inventory", "bi-cpu", "btn-outline-secondary")]
            if _speaks_redfish(machine)
            else []
        ),
    ]


def _speaks_redfish(machine: Machine) -> bool:
    bmc = getattr(machine, "bmc", None)
    return bmc is not None and bmc.protocol == BMC.Protocol.REDFISH


def recent_power_jobs(machine: Machine, *, limit: int = RECENT_POWER_JOBS) -> list[PowerJob]:
    # One query whatever the number of jobs: the card shows plain fields only.
    return list(PowerJob.objects.filter(machine=machine).order_by("-created_at", "-pk")[:limit])


def power_card(machine: Machine) -> PowerCard:
    """What partials/power_card.html needs, besides ``machine`` and ``perms``."""
    return PowerCard(jobs=recent_power_jobs(machine), buttons=power_buttons(machine))


def _command_label(job: PowerJob) -> str:
    label = job.get_action_display()
    return f"{label} into PXE" if job.boot_device == PowerJob.BootDevice.PXE else label


@require_POST
@requires(access.POWER_MACHINE)
def machine_power(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(Machine, pk=pk)
    try:
        job = power_job_request(
            machine=machine,
            action=request.POST.get("action", ""),
            actor=Actor.for_user(request.user),
            # Buttons only ever set the next boot: a persistent boot device is a workflow's
            # decision, not something to leave behind by a click.
            boot_device=request.POST.get("boot_device", ""),
            reason=request.POST.get("reason", ""),
        )
    except PowerBusyError as exc:
        messages.error(request, str(exc))
    except ValidationError as exc:
        messages.error(request, "; ".join(exc.messages))
    else:
        messages.success(request, f"{_command_label(job)} queued for {machine.hostname}.")
    return redirect("dashboard:machine-detail", pk=pk)


@require_GET
@requires("inventory.view_machine")
def machine_power_card(request: HttpRequest, pk: int) -> HttpResponse:
    """The card alone, for its own polling while a job is queued or running."""
    machine = get_object_or_404(Machine.objects.select_related("bmc"), pk=pk)
    context = {"machine": machine, "power": power_card(machine)}
    return render(request, "inventory/partials/power_card.html", context)


# --- many machines at once, from the machine list's filter ------------------------------------

# The bulk page lists the machines it would send the command to; beyond this it only counts.
POWER_BULK_LIST_LIMIT = 200


@require_http_methods(["GET", "HEAD", "POST"])
@requires("inventory.view_machine", on_post=(access.POWER_MACHINE,))
def machine_power_bulk(request: HttpRequest) -> HttpResponse:
    """One power command for every machine the filter selects; each is queued on its own.

    The page lists the selection with its digest; the form sends the digest back and the
    command runs only if the filter still selects exactly those machines."""
    page = bulk_page(request)
    if page.selection is None:
        return render(request, "inventory/power_bulk.html", page.context, status=400)
    selection = page.selection
    form = PowerBulkForm(request.POST if page.posted else None)
    if page.may_run(form):
        result = power_jobs_request_bulk(
            machines=selection.machines(),
            action=form.cleaned_data["action"],
            actor=Actor.for_user(request.user),
            boot_device=form.cleaned_data["boot_device"],
            persistent=form.cleaned_data["persistent"],
            reason=form.cleaned_data["reason"],
        )
        page.context.update(result=result, action=PowerJob.Action(form.cleaned_data["action"]))
        return render(request, "inventory/power_bulk_result.html", page.context)
    form.mark_invalid()
    selected = selection.machines()
    counts = selected.aggregate(
        total=Count("pk"), with_bmc=Count("pk", filter=Q(bmc__isnull=False))
    )
    running = PowerJob.objects.filter(machine=OuterRef("pk"), state__in=POWER_JOB_ACTIVE_STATES)
    machines = selected.select_related("bmc").annotate(power_busy=Exists(running))
    page.show(form, machines, count=counts["total"], limit=POWER_BULK_LIST_LIMIT)
    page.context["bmc_count"] = counts["with_bmc"]
    return render(request, "inventory/power_bulk.html", page.context, status=page.status(form))


# --- every power job, across machines ---------------------------------------------------------

# ``?ordering=<key>`` (or ``-<key>``); without one the newest job comes first.
POWER_JOB_ORDERINGS = {
    "created": ("created_at",),
    "finished": ("finished_at",),
    "machine": ("machine__hostname", "created_at"),
    "state": ("state", "created_at"),
}


@requires("inventory.view_powerjob")
def power_job_list(request: HttpRequest) -> HttpResponse:
    """Every power command sent, to any machine: what, to whom, by whom, and how it ended."""
    filterset = PowerJobFilterSet(request.GET, queryset=power_job_rows())
    extra = {"states": PowerJobState.choices, "actions": PowerJob.Action.choices}
    return list_page(
        request,
        filterset=filterset,
        orderings=POWER_JOB_ORDERINGS,
        template="inventory/power_job_list.html",
        partial="inventory/partials/power_job_table.html",
        extra=extra,
        columns=POWER_JOB_COLUMNS,
        export="dashboard:power-job-list-export",
    )

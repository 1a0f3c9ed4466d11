"""Dashboard pages that create and edit the inventory (sites, racks, machines and their
interfaces, disks and BMC), and the site page with its racks side by side.

Every write is a service call, the same the API makes, under the permission the API asks for
the same write; a refusal comes back on the field it is about and nothing is saved."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse

from inventory import selectors, services
from inventory.forms import (
    BMCForm,
    DiskForm,
    InterfaceForm,
    MachineForm,
    MachinePartForm,
    RackForm,
    ServiceModelForm,
    SiteForm,
)
from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site
from inventory.states import MachineState
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.pages import form_status

Crumbs = list[tuple[str, str]]


@dataclass(frozen=True)
class FormPage:
    """What the form page shows around the form."""

    title: str
    crumbs: Crumbs
    cancel_url: str
    submit: str


def _form_page(
    request: HttpRequest,
    form: ServiceModelForm,
    page: FormPage,
    *,
    save: Callable[..., models.Model],
    done: Callable[[Any], str],
    saved_message: Callable[[Any], str],
) -> HttpResponse:
    """Show ``form``; on POST call ``save(actor=..., **cleaned_data)`` and go to ``done(obj)``,
    or show the form again with the service's refusal on its fields (answering 400)."""
    if request.method == "POST" and form.is_valid():
        try:
            saved = save(actor=Actor.for_user(request.user), **form.cleaned_data)
        except ValidationError as exc:
            form.add_service_errors(exc)
        else:
            messages.success(request, saved_message(saved))
            return redirect(done(saved))
    form.mark_invalid()
    context = {"form": form, "page": page}
    return render(request, "inventory/object_form.html", context, status=form_status(form))


def _bound(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


# --- sites --------------------------------------------------------------------------------


def _site_crumbs(site: Site | None = None) -> Crumbs:
    crumbs = [("Sites", reverse("dashboard:site-list"))]
    if site is not None:
        crumbs.append((site.name, reverse("dashboard:site-detail", args=[site.pk])))
    return crumbs


@dataclass(frozen=True)
class RackElevation:
    rack: Rack
    rows: list[dict[str, object]]

    @property
    def placed(self) -> list[Machine]:
        return [row["machine"] for row in self.rows if isinstance(row["machine"], Machine)]

    @property
    def used_units(self) -> int:
        return sum(machine.u_height for machine in self.placed)


@requires("inventory.view_site")
def site_detail(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(selectors.site_list(), pk=pk)
    elevations = [RackElevation(rack, rows) for rack, rows in selectors.site_elevations(site)]
    context = {"site": site, "elevations": elevations, "states": MachineState.choices}
    return render(request, "inventory/site_detail.html", context)


@requires("inventory.add_site")
def site_create(request: HttpRequest) -> HttpResponse:
    page = FormPage("New site", _site_crumbs(), reverse("dashboard:site-list"), "Create site")
    return _form_page(
        request,
        SiteForm(_bound(request)),
        page,
        save=services.site_create,
        done=lambda site: reverse("dashboard:site-detail", args=[site.pk]),
        saved_message=lambda site: f"Site {site.name} created.",
    )


@requires("inventory.change_site")
def site_edit(request: HttpRequest, pk: int) -> HttpResponse:
    site = get_object_or_404(Site, pk=pk)
    back = reverse("dashboard:site-detail", args=[site.pk])
    page = FormPage(f"Edit site {site.name}", _site_crumbs(site), back, "Save changes")
    return _form_page(
        request,
        SiteForm(_bound(request), instance=site),
        page,
        save=lambda **values: services.site_update(site=site, **values),
        done=lambda saved: back,
        saved_message=lambda saved: f"Site {saved.name} saved.",
    )


# --- racks --------------------------------------------------------------------------------


def _rack_crumbs(rack: Rack | None = None) -> Crumbs:
    crumbs = [("Racks", reverse("dashboard:rack-list"))]
    if rack is not None:
        crumbs.append((rack.name, reverse("dashboard:rack-detail", args=[rack.pk])))
    return crumbs


@requires("inventory.add_rack")
def rack_create(request: HttpRequest) -> HttpResponse:
    # From a site's page the site is chosen already.
    initial = {"site": request.GET.get("site")} if request.GET.get("site") else {}
    page = FormPage("New rack", _rack_crumbs(), reverse("dashboard:rack-list"), "Create rack")
    return _form_page(
        request,
        RackForm(_bound(request), initial=initial),
        page,
        save=services.rack_create,
        done=lambda rack: reverse("dashboard:rack-detail", args=[rack.pk]),
        saved_message=lambda rack: f"Rack {rack.name} created in {rack.site.name}.",
    )


@requires("inventory.change_rack")
def rack_edit(request: HttpRequest, pk: int) -> HttpResponse:
    rack = get_object_or_404(Rack.objects.select_related("site"), pk=pk)
    back = reverse("dashboard:rack-detail", args=[rack.pk])
    page = FormPage(f"Edit rack {rack.name}", _rack_crumbs(rack), back, "Save changes")
    return _form_page(
        request,
        RackForm(_bound(request), instance=rack),
        page,
        save=lambda **values: services.rack_update(rack=rack, **values),
        done=lambda saved: back,
        saved_message=lambda saved: f"Rack {saved.name} saved.",
    )


# --- machines -----------------------------------------------------------------------------


def _machine_crumbs(machine: Machine | None = None) -> Crumbs:
    crumbs = [("Machines", reverse("dashboard:machine-list"))]
    if machine is not None:
        crumbs.append((machine.hostname, reverse("dashboard:machine-detail", args=[machine.pk])))
    return crumbs


def _machine_url(machine: Machine, anchor: str = "") -> str:
    url = reverse("dashboard:machine-detail", args=[machine.pk])
    return f"{url}#{anchor}" if anchor else url


@requires("inventory.add_machine")
def machine_create(request: HttpRequest) -> HttpResponse:
    # An empty unit of a rack elevation links here with its rack and unit.
    initial = {key: request.GET[key] for key in ("rack", "position") if request.GET.get(key)}
    back = request.GET.get("rack")
    cancel = (
        reverse("dashboard:rack-detail", args=[back])
        if back and back.isdigit()
        else reverse("dashboard:machine-list")
    )
    page = FormPage("New machine", _machine_crumbs(), cancel, "Create machine")
    return _form_page(
        request,
        MachineForm(_bound(request), initial=initial, user=request.user),
        page,
        save=services.machine_create,
        done=_machine_url,
        saved_message=lambda machine: f"Machine {machine.hostname} created.",
    )


@requires("inventory.change_machine")
def machine_edit(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(Machine.objects.prefetch_related("tags"), pk=pk)
    page = FormPage(
        f"Edit {machine.hostname}", _machine_crumbs(machine), _machine_url(machine), "Save changes"
    )
    return _form_page(
        request,
        MachineForm(_bound(request), instance=machine, user=request.user),
        page,
        save=lambda **values: services.machine_update(machine=machine, **values),
        done=_machine_url,
        saved_message=lambda saved: f"Machine {saved.hostname} saved.",
    )


# --- interfaces, disks, BMC ---------------------------------------------------------------


@dataclass(frozen=True)
class Part:
    """A kind of part of a machine, as its pages name and save it."""

    label: str
    anchor: str  # the section of the machine page that lists them
    form: type[MachinePartForm]
    create: Callable[..., models.Model]
    update: Callable[..., models.Model]
    delete: Callable[..., None]
    kwarg: str  # the services' keyword for an existing part


INTERFACE = Part(
    "interface",
    "interfaces",
    InterfaceForm,
    services.interface_create,
    services.interface_update,
    services.interface_delete,
    "interface",
)
DISK = Part(
    "disk",
    "disks",
    DiskForm,
    services.disk_create,
    services.disk_update,
    services.disk_delete,
    "disk",
)
BMC_PART = Part(
    "BMC", "bmc", BMCForm, services.bmc_create, services.bmc_update, services.bmc_delete, "bmc"
)


def _part_create(request: HttpRequest, part: Part, machine: Machine) -> HttpResponse:
    back = _machine_url(machine, part.anchor)
    page = FormPage(
        f"New {part.label} for {machine.hostname}",
        _machine_crumbs(machine),
        back,
        f"Add {part.label}",
    )
    return _form_page(
        request,
        part.form(_bound(request), machine=machine),
        page,
        save=lambda **values: part.create(machine=machine, **values),
        done=lambda saved: back,
        saved_message=lambda saved: f"{part.label.capitalize()} {saved} added.",
    )


def _part_edit(request: HttpRequest, part: Part, instance: Any) -> HttpResponse:
    machine = instance.machine
    back = _machine_url(machine, part.anchor)
    page = FormPage(
        f"Edit {part.label} {instance} of {machine.hostname}",
        _machine_crumbs(machine),
        back,
        "Save changes",
    )
    return _form_page(
        request,
        part.form(_bound(request), machine=machine, instance=instance),
        page,
        save=lambda **values: part.update(**{part.kwarg: instance}, **values),
        done=lambda saved: back,
        saved_message=lambda saved: f"{part.label.capitalize()} {saved} saved.",
    )


def _part_delete(request: HttpRequest, part: Part, instance: Any) -> HttpResponse:
    machine = instance.machine
    back = _machine_url(machine, part.anchor)
    if request.method == "POST":
        try:
            part.delete(**{part.kwarg: instance}, actor=Actor.for_user(request.user))
        except ValidationError as exc:
            reason = " ".join(exc.messages)
            messages.error(request, f"{part.label.capitalize()} {instance} not deleted: {reason}")
        else:
            messages.success(request, f"{part.label.capitalize()} {instance} deleted.")
        return redirect(back)
    context = {
        "part": part,
        "object": instance,
        "machine": machine,
        "crumbs": _machine_crumbs(machine),
        "cancel_url": back,
    }
    return render(request, "inventory/confirm_delete.html", context)


def _machine(machine_pk: int) -> Machine:
    return get_object_or_404(Machine, pk=machine_pk)


def _interface(pk: int) -> NetworkInterface:
    return get_object_or_404(NetworkInterface.objects.select_related("machine"), pk=pk)


def _disk(pk: int) -> Disk:
    return get_object_or_404(Disk.objects.select_related("machine"), pk=pk)


def _bmc(pk: int) -> BMC:
    return get_object_or_404(BMC.objects.select_related("machine"), pk=pk)


@requires("inventory.add_networkinterface")
def interface_create(request: HttpRequest, machine_pk: int) -> HttpResponse:
    return _part_create(request, INTERFACE, _machine(machine_pk))


@requires("inventory.change_networkinterface")
def interface_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _part_edit(request, INTERFACE, _interface(pk))


@requires("inventory.delete_networkinterface")
def interface_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _part_delete(request, INTERFACE, _interface(pk))


@requires("inventory.add_disk")
def disk_create(request: HttpRequest, machine_pk: int) -> HttpResponse:
    return _part_create(request, DISK, _machine(machine_pk))


@requires("inventory.change_disk")
def disk_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _part_edit(request, DISK, _disk(pk))


@requires("inventory.delete_disk")
def disk_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _part_delete(request, DISK, _disk(pk))


@requires("inventory.add_bmc")
def bmc_create(request: HttpRequest, machine_pk: int) -> HttpResponse:
    machine = _machine(machine_pk)
    existing = BMC.objects.filter(machine=machine).first()
    if existing is not None:  # one BMC a machine: edit the one it has
        return redirect("dashboard:bmc-edit", pk=existing.pk)
    return _part_create(request, BMC_PART, machine)


@requires("inventory.change_bmc")
def bmc_edit(request: HttpRequest, pk: int) -> HttpResponse:
    return _part_edit(request, BMC_PART, _bmc(pk))


@requires("inventory.delete_bmc")
def bmc_delete(request: HttpRequest, pk: int) -> HttpResponse:
    return _part_delete(request, BMC_PART, _bmc(pk))

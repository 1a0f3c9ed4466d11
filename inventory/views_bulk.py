"""Bulk command pages of the machine list: allow or deny PXE, add a tag, retire.

As on the bulk power page, the machines are named by the machine list's filter in the
querystring (``?id=3&id=7`` for rows ticked by hand, the list's own filter for "all
matching"); GET shows the selection with its digest, POST runs the command once the digest
the form sends back still names the same machines.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib.auth.models import AbstractUser, AnonymousUser
from django.db.models import Prefetch
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from inventory import services_bulk
from inventory.models import Tag
from inventory.selection import MachineSelection, SelectionChanged, bulk_page
from inventory.services_bulk import BulkResult
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.forms import InvalidMarkingForm

CHANGE_MACHINE = "inventory.change_machine"
# The machine list shows row checkboxes to those who may run at least one bulk command.
MACHINE_BULK_PERMISSIONS = (CHANGE_MACHINE, access.RUN_WORKFLOW, access.POWER_MACHINE)
# The page lists the machines it would change; beyond this it only counts them.
BULK_LIST_LIMIT = 200


def may_select_machines(user: AbstractUser | AnonymousUser) -> bool:
    return any(user.has_perm(permission) for permission in MACHINE_BULK_PERMISSIONS)


class ReasonForm(InvalidMarkingForm):
    reason = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"class": "form-control", "placeholder": "Shown in each machine's history"}
        ),
    )


class TagForm(InvalidMarkingForm):
    tag = forms.ModelChoiceField(
        queryset=Tag.objects.order_by("name"),
        to_field_name="slug",
        empty_label="Choose a tag",
        widget=forms.Select(attrs={"class": "form-select"}),
    )


@dataclass(frozen=True)
class BulkCommand:
    """One bulk command's page: its words, its form, and the service it runs."""

    title: str  # "Deny PXE"
    done: str  # "PXE denied"
    icon: str
    button_style: str
    explanation: str
    form_class: type[InvalidMarkingForm]
    run: Callable[..., BulkResult]


def _set_pxe(allow: bool) -> Callable[..., BulkResult]:
    def run(*, data: dict[str, Any], **kwargs: Any) -> BulkResult:
        return services_bulk.machine_bulk_set_pxe(allow=allow, reason=data["reason"], **kwargs)

    return run


def _tag(*, data: dict[str, Any], **kwargs: Any) -> BulkResult:
    return services_bulk.machine_bulk_tag(tag=data["tag"], **kwargs)


def _retire(*, data: dict[str, Any], **kwargs: Any) -> BulkResult:
    return services_bulk.machine_bulk_retire(reason=data["reason"], **kwargs)


ALLOW_PXE = BulkCommand(
    title="Allow PXE",
    done="PXE allowed",
    icon="bi-hdd-network",
    button_style="btn-primary",
    explanation="Netboot serves these machines again when they have work. Retired machines "
    "stay off.",
    form_class=ReasonForm,
    run=_set_pxe(True),
)
DENY_PXE = BulkCommand(
    title="Deny PXE",
    done="PXE denied",
    icon="bi-slash-circle",
    button_style="btn-warning",
    explanation="Netboot sends these machines to their next boot device, whatever work they have.",
    form_class=ReasonForm,
    run=_set_pxe(False),
)
ADD_TAG = BulkCommand(
    title="Add a tag",
    done="Tagged",
    icon="bi-tag",
    button_style="btn-primary",
    explanation="The tag is added; the machines keep their other tags.",
    form_class=TagForm,
    run=_tag,
)
RETIRE = BulkCommand(
    title="Retire",
    done="Retired",
    icon="bi-archive",
    button_style="btn-danger",
    explanation="Retiring is final: unfinished workflows are cancelled, queued power jobs "
    "end, agent tokens are revoked and PXE is turned off.",
    form_class=ReasonForm,
    run=_retire,
)


def _bulk_command_page(request: HttpRequest, command: BulkCommand) -> HttpResponse:
    page = bulk_page(request)
    page.context["command"] = command
    if page.selection is None:
        return render(request, "inventory/machine_bulk.html", page.context, status=400)
    selection: MachineSelection = page.selection
    form = command.form_class(request.POST if page.posted else None)
    if page.may_run(form):
        try:
            result = command.run(
                selection=selection,
                confirmed=request.POST.get("selection", ""),
                actor=Actor.for_user(request.user),
                data=form.cleaned_data,
            )
        except SelectionChanged as exc:
            page.changed = str(exc)
            page.context["changed"] = str(exc)
        else:
            page.context["result"] = result
            return render(request, "inventory/machine_bulk_result.html", page.context)
    form.mark_invalid()
    machines = (
        selection.machines()
        .select_related("rack__site", "bmc")
        .prefetch_related(Prefetch("tags", queryset=Tag.objects.order_by("name")))
    )
    page.show(form, machines, count=selection.count, limit=BULK_LIST_LIMIT)
    if isinstance(form, TagForm):
        page.context["tag_count"] = form.fields["tag"].queryset.count()  # type: ignore[attr-defined]
    return render(request, "inventory/machine_bulk.html", page.context, status=page.status(form))


@require_http_methods(["GET", "HEAD", "POST"])
@requires(CHANGE_MACHINE)
def machine_bulk_pxe_allow(request: HttpRequest) -> HttpResponse:
    return _bulk_command_page(request, ALLOW_PXE)


@require_http_methods(["GET", "HEAD", "POST"])
@requires(CHANGE_MACHINE)
def machine_bulk_pxe_deny(request: HttpRequest) -> HttpResponse:
    return _bulk_command_page(request, DENY_PXE)


@require_http_methods(["GET", "HEAD", "POST"])
@requires(CHANGE_MACHINE)
def machine_bulk_tag(request: HttpRequest) -> HttpResponse:
    return _bulk_command_page(request, ADD_TAG)


@require_http_methods(["GET", "HEAD", "POST"])
@requires(CHANGE_MACHINE)
def machine_bulk_retire(request: HttpRequest) -> HttpResponse:
    return _bulk_command_page(request, RETIRE)

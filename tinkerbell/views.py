"""Pages of the Tinkerbell app: importing a released HookOS."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from builds.states import Arch
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.forms import InvalidMarkingForm, add_service_errors
from rackpilot.core.pages import form_status
from tinkerbell.hookos import hookos_import

TEXT = {"class": "form-control form-control-sm"}


def _file(label: str) -> forms.FileField:
    return forms.FileField(required=False, label=label, widget=forms.ClearableFileInput(attrs=TEXT))


class HookosImportForm(InvalidMarkingForm):
    arch = forms.ChoiceField(
        choices=Arch.choices, widget=forms.Select(attrs={"class": "form-select form-select-sm"})
    )
    url = forms.URLField(
        required=False,
        label="Release URL",
        assume_scheme="https",
        widget=forms.URLInput(attrs=TEXT),
    )
    sha256 = forms.CharField(
        required=False, max_length=64, label="Archive sha256", widget=forms.TextInput(attrs=TEXT)
    )
    archive = _file("or upload hook_<arch>.tar.gz")
    kernel = _file("or a kernel")
    initramfs = _file("and its initramfs")
    make_default = forms.BooleanField(
        required=False, label="Make it the default build of its architecture"
    )


@requires(access.RUN_BUILD)
def hookos_import_page(request: HttpRequest) -> HttpResponse:
    posted = request.method == "POST"
    form = HookosImportForm(request.POST if posted else None, request.FILES if posted else None)
    if posted and form.is_valid():
        data = form.cleaned_data
        try:
            build = hookos_import(
                actor=Actor.for_user(request.user),
                arch=data["arch"],
                url=data["url"],
                sha256=data["sha256"],
                archive=data["archive"],
                kernel=data["kernel"],
                initramfs=data["initramfs"],
                make_default=data["make_default"],
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            messages.success(request, f"HookOS imported as build #{build.pk}.")
            return redirect("builds:build-detail", pk=build.pk)
    form.mark_invalid()
    return render(
        request, "tinkerbell/hookos_import.html", {"form": form}, status=form_status(form)
    )

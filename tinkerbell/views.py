"""Pages of the Tinkerbell app: importing a released HookOS, importing Tinkerbell documents,
and a machine or workflow exported as Tinkerbell YAML."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render

from builds.states import Arch
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.forms import InvalidMarkingForm, add_service_errors
from rackpilot.core.pages import form_status
from tinkerbell.formats import TinkerbellImportError, import_documents
from tinkerbell.formats.documents import dump_documents
from tinkerbell.formats.hardware_export import export_documents, hardware_export_queryset
from tinkerbell.formats.workflow_export import workflow_document
from tinkerbell.hookos import hookos_import
from workflows.models import Workflow

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


IMPORT_MAX_BYTES = 5 * 1024 * 1024


class TinkerbellImportForm(InvalidMarkingForm):
    text = forms.CharField(
        required=False,
        label="Tinkerbell YAML",
        widget=forms.Textarea(
            attrs={"class": "form-control form-control-sm font-monospace", "rows": 14}
        ),
    )
    upload = _file("or a file")
    dry_run = forms.BooleanField(required=False, label="Check only (write nothing)")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        upload = data.get("upload")
        if upload is not None:
            if upload.size > IMPORT_MAX_BYTES:
                raise ValidationError({"upload": "At most 5 MiB of YAML, please."})
            try:
                data["text"] = upload.read().decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ValidationError({"upload": "The file is not UTF-8 text."}) from exc
        if not (data.get("text") or "").strip():
            raise ValidationError({"text": "Paste Tinkerbell documents or choose a file."})
        return data


@requires(
    "inventory.view_machine",
    on_post=(access.IMPORT_MACHINES, "workflows.add_template", access.RUN_WORKFLOW),
)
def tinkerbell_import_page(request: HttpRequest) -> HttpResponse:
    """Hardware, Template, Workflow (and Rufio Machine, Secret) documents: all imported, or
    none with every problem listed."""
    posted = request.method == "POST"
    form = TinkerbellImportForm(request.POST if posted else None, request.FILES if posted else None)
    result, errors = None, []
    if posted and form.is_valid():
        try:
            result = import_documents(
                text=form.cleaned_data["text"],
                actor=Actor.for_user(request.user),
                dry_run=form.cleaned_data["dry_run"],
            )
        except TinkerbellImportError as exc:
            errors = exc.errors
    form.mark_invalid()
    status = 400 if errors else form_status(form)
    context = {"form": form, "result": result, "errors": errors}
    return render(request, "tinkerbell/tinkerbell_import.html", context, status=status)


def _yaml_download(text: str, filename: str) -> HttpResponse:
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# A Hardware document carries userData and metadata as stored: only for those who see secrets.
@requires("inventory.view_machine", access.VIEW_SECRETS)
def machine_export(request: HttpRequest, pk: int) -> HttpResponse:
    machine = get_object_or_404(hardware_export_queryset(), pk=pk)
    return _yaml_download(export_documents(machines=[machine]), f"{machine.hostname}.hardware.yaml")


@requires("workflows.view_workflow", access.VIEW_SECRETS)
def workflow_export(request: HttpRequest, pk: int) -> HttpResponse:
    workflow = get_object_or_404(Workflow.objects.select_related("template", "machine"), pk=pk)
    return _yaml_download(
        dump_documents([workflow_document(workflow=workflow)]), f"workflow-{workflow.pk}.yaml"
    )

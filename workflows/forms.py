"""Dashboard forms of the workflows app. They shape input; the services decide what is valid."""

from __future__ import annotations

import re
from typing import Any, TypeVar

from django import forms
from django.core.exceptions import ValidationError

from rackpilot.core.forms import CRLFTextarea, InvalidMarkingForm
from workflows.models import Template

M = TypeVar("M")

# Hardware map keys become template fields (``{{ .device_1 }}``): Go identifiers only.
MAP_KEY_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class TemplateForm(InvalidMarkingForm):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
    )
    # strip=False: the body is kept verbatim, leading indentation and trailing newline included.
    body = forms.CharField(
        strip=False,
        widget=CRLFTextarea(
            attrs={
                "rows": 26,
                "wrap": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "autocomplete": "off",
                "class": "form-control font-monospace rp-editor-input",
            }
        ),
        help_text="Tinkerbell workflow YAML with Go template expressions.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(
            {"class": "form-control font-monospace", "autocomplete": "off"}
        )


def parse_hardware_map(text: str) -> dict[str, str]:
    """``key=value`` lines (blank lines and ``#`` comments ignored) into a hardware map."""
    mapping: dict[str, str] = {}
    errors: list[str] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not key:
            errors.append(f"Line {number}: expected key=value, got “{line}”.")
        elif not MAP_KEY_RE.match(key):
            errors.append(
                f"Line {number}: “{key}” is not a valid key (letters, digits and _; it is "
                "used as {{ .key }} in templates)."
            )
        elif key in mapping:
            errors.append(f"Line {number}: “{key}” is given twice.")
        else:
            mapping[key] = value
    if errors:
        raise ValidationError(errors)
    return mapping


def hardware_map_text(mapping: dict[str, str]) -> str:
    return "\n".join(f"{key}={value}" for key, value in mapping.items())


def _template_field() -> forms.ModelChoiceField:
    return forms.ModelChoiceField(
        queryset=Template.objects.only("name").order_by("name"),
        empty_label="Choose a template…",
        widget=forms.Select(attrs={"class": "form-select"}),
    )


class WorkflowStartForm(InvalidMarkingForm):
    template = _template_field()
    hardware_map = forms.CharField(
        required=False,
        widget=CRLFTextarea(
            attrs={"rows": 4, "spellcheck": "false", "class": "form-control font-monospace"}
        ),
        help_text="One key=value per line; the keys are what the template reads "
        "(“{{ .device_1 }}”). Empty: device_1 is the boot interface's MAC.",
    )
    disable_pxe_on_success = forms.BooleanField(
        required=False,
        label="Turn PXE off after success",
        help_text="The machine boots from its disk next time instead of netbooting again.",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    boot_into_pxe = forms.BooleanField(
        required=False,
        label="Power-cycle into PXE now",
        help_text="Through the machine's BMC: PXE for the next boot, then a power cycle.",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )

    def clean_hardware_map(self) -> dict[str, str]:
        return parse_hardware_map(self.cleaned_data.get("hardware_map") or "")


class WorkflowBulkForm(InvalidMarkingForm):
    template = _template_field()
    skip_refused = forms.BooleanField(
        required=False,
        label="Skip refused machines",
        help_text="Start the workflow on the machines that accept it even if others refuse. "
        "Without this, one refusal means nothing is started.",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    disable_pxe_on_success = forms.BooleanField(
        required=False,
        label="Turn PXE off after success",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    boot_into_pxe = forms.BooleanField(
        required=False,
        label="Power-cycle each into PXE now",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )


class WorkflowCancelForm(forms.Form):
    reason = forms.CharField(required=False, max_length=500)

"""The form of the bulk power page: one command for every machine a filter selects."""

from __future__ import annotations

from typing import Any

from django import forms

from inventory.models import PowerJob
from rackpilot.core.forms import InvalidMarkingForm


class PowerBulkForm(InvalidMarkingForm):
    action = forms.ChoiceField(
        choices=PowerJob.Action.choices,
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    boot_device = forms.ChoiceField(
        choices=PowerJob.BootDevice.choices,
        required=False,
        label="Boot device",
        widget=forms.Select(attrs={"class": "form-select"}),
    )
    persistent = forms.BooleanField(
        required=False,
        label="Keep the boot device for every boot",
        help_text="Without this, only the next boot uses it.",
        widget=forms.CheckboxInput(attrs={"class": "form-check-input"}),
    )
    reason = forms.CharField(
        required=False,
        max_length=200,
        widget=forms.TextInput(
            attrs={"class": "form-control", "placeholder": "Shown in each machine's history"}
        ),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("persistent") and not data.get("boot_device"):
            self.add_error("persistent", "Choose a boot device to keep, or untick this.")
        return data

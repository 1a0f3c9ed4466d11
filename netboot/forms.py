"""Dashboard forms for discovery. They shape input; the services decide what is valid (rule
conditions are parsed, rack places checked and names kept unique there)."""

from __future__ import annotations

from typing import Any

from django import forms

from inventory.models import Machine, Rack, Tag
from rackpilot.core.forms import CRLFTextarea, InvalidMarkingForm
from workflows.models import Template


class DiscoveryRuleForm(InvalidMarkingForm):
    name = forms.CharField(max_length=100)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
    )
    priority = forms.IntegerField(
        min_value=0,
        initial=100,
        help_text="Rules are tried in ascending priority; the first match wins.",
    )
    enabled = forms.BooleanField(
        required=False,
        initial=True,
        help_text="Only enabled rules accept machines; a disabled one can still be dry-run.",
    )
    # strip=False: line numbers in the service's errors count the lines as typed.
    conditions = forms.CharField(
        required=False,
        strip=False,
        widget=CRLFTextarea(
            attrs={
                "rows": 10,
                "wrap": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "autocomplete": "off",
                "class": "form-control font-monospace",
            }
        ),
        help_text="One condition per line, all must hold. Empty matches every machine.",
    )
    template = forms.ModelChoiceField(
        queryset=Template.objects.only("name").order_by("name"),
        empty_label="Choose a template…",
        help_text="The workflow started on a machine this rule accepts.",
    )
    disable_pxe_on_success = forms.BooleanField(
        required=False,
        label="Turn PXE off after success",
        help_text="The machine boots from its disk once the rule's workflow has succeeded.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)
        self.fields["name"].widget.attrs["autocomplete"] = "off"


class RackChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Rack) -> str:  # type: ignore[override]
        # Rack names repeat from one site to the next.
        return f"{obj.site.name} / {obj.name}"


class MachineAcceptForm(InvalidMarkingForm):
    """What an operator gives a discovered machine as it joins the fleet."""

    hostname = forms.CharField(max_length=253)
    rack = RackChoiceField(
        queryset=Rack.objects.select_related("site").order_by("site__name", "name"),
        required=False,
        empty_label="Not in a rack",
    )
    position = forms.IntegerField(
        required=False, min_value=1, help_text="Lowest rack unit it occupies (1 = bottom)."
    )
    u_height = forms.IntegerField(min_value=1, max_value=20, label="Height (U)")
    face = forms.ChoiceField(choices=Machine.Face.choices)
    full_depth = forms.BooleanField(
        required=False, help_text="Occupies both faces of its rack units."
    )
    tags = forms.ModelMultipleChoiceField(
        queryset=Tag.objects.order_by("name"),
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 4}),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _style(self)
        self.fields["hostname"].widget.attrs.update(
            {"class": "form-control font-monospace", "autocomplete": "off"}
        )

    @staticmethod
    def initial_for(machine: Machine) -> dict[str, Any]:
        return {
            "hostname": machine.hostname,
            "rack": machine.rack_id,
            "position": machine.position,
            "u_height": machine.u_height,
            "face": machine.face,
            "full_depth": machine.full_depth,
        }


def _style(form: forms.Form) -> None:
    """Bootstrap classes by widget kind, so the templates can render fields as they are."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs.setdefault("class", css)

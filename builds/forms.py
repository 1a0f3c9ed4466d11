from __future__ import annotations

from typing import Any

from django import forms

from builds.states import Arch
from rackpilot.core.forms import CRLFTextarea, InvalidMarkingForm


class RecipeForm(InvalidMarkingForm):
    name = forms.CharField(max_length=200)
    arches = forms.MultipleChoiceField(
        choices=Arch.choices,
        widget=forms.CheckboxSelectMultiple,
        initial=[Arch.X86_64],
        help_text="A build is made for each.",
    )
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2, "class": "form-control"})
    )
    # strip=False: the YAML is kept verbatim, indentation and trailing newline included.
    config = forms.CharField(
        strip=False,
        widget=CRLFTextarea(
            attrs={
                "rows": 26,
                "wrap": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "autocomplete": "off",
                "class": "form-control font-monospace",
            }
        ),
        help_text="LinuxKit YAML: kernel, init, onboot, onshutdown, services, files.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["name"].widget.attrs.update(
            {"class": "form-control font-monospace", "autocomplete": "off"}
        )

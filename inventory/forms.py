"""Dashboard forms of the inventory. Their fields are the ones the services write (labels and
help from the models); they shape the input, and the services validate and save it (the
calls the API makes), their refusals landing on the fields they name."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.core.exceptions import NON_FIELD_ERRORS, FieldDoesNotExist, ValidationError
from django.db import models
from django.utils.text import slugify

from inventory import services
from inventory.metadata_keys import visible_metadata
from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
from rackpilot.core.forms import InvalidMarkingForm, add_service_errors
from rackpilot.core.secrets import MACHINE_SECRET_FIELDS, can_view_secrets

WIDE = "col-12"
NARROW = "col-md-6"

Section = tuple[str, list[forms.BoundField]]


class ServiceModelForm(forms.ModelForm, InvalidMarkingForm):
    """A ModelForm for its fields and initial values only: it never validates the model nor
    saves it. ``cleaned_data`` is what the service is called with."""

    # (title, field names) groups for the page; None: one untitled group of every field.
    sections: list[tuple[str, list[str]]] | None = None
    # The field a model constraint over several columns is about (rack name per site...):
    # the service reports it for no field, the page shows it there.
    constraint_field: str | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            widget = field.widget
            if isinstance(widget, forms.CheckboxInput):
                css = "form-check-input"
            elif isinstance(widget, forms.Select):
                css = "form-select"
            else:
                css = "form-control"
            widget.attrs["class"] = f"{css} {widget.attrs.get('class', '')}".strip()
            wide = isinstance(widget, forms.Textarea | forms.SelectMultiple)
            field.column = WIDE if wide else NARROW  # type: ignore[attr-defined]

    def _post_clean(self) -> None:
        """No model validation here: the service runs it (once, with its own checks)."""

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        # Empty inputs of nullable columns (an IP, a VLAN, a port) are "not set", not "".
        for name, value in data.items():
            model_field = _model_field(self._meta.model, name)
            if value == "" and model_field is not None and model_field.null:
                data[name] = None
        return data

    def add_service_errors(self, exc: ValidationError) -> None:
        if self.constraint_field and NON_FIELD_ERRORS in getattr(exc, "error_dict", {}):
            errors = dict(exc.error_dict)
            errors[self.constraint_field] = errors.pop(NON_FIELD_ERRORS)
            exc = ValidationError(errors)
        add_service_errors(self, exc)

    def grouped(self) -> list[Section]:
        if self.sections is None:
            return [("", list(self))]
        return [
            (title, [self[name] for name in names if name in self.fields])
            for title, names in self.sections
        ]


def _model_field(model: type[models.Model], name: str) -> models.Field | None:
    try:
        field = model._meta.get_field(name)
    except FieldDoesNotExist:  # a form-only field (the BMC password)
        return None
    return field if isinstance(field, models.Field) else None


class SiteForm(ServiceModelForm):
    class Meta:
        model = Site
        fields = services.SITE_FIELDS
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}
        help_texts = {"slug": "Used in URLs and filters; made from the name when left blank."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["slug"].required = False

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("slug") and data.get("name"):
            data["slug"] = slugify(data["name"])
        return data


class RackChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Rack) -> str:  # type: ignore[override]
        # Rack names repeat from one site to the next.
        return f"{obj.site.name} / {obj.name} ({obj.u_height}U)"


class RackForm(ServiceModelForm):
    constraint_field = "name"

    class Meta:
        model = Rack
        fields = services.RACK_FIELDS
        labels = {"u_height": "Height (U)"}
        widgets = {"description": forms.Textarea(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["site"].empty_label = "Choose a site…"  # type: ignore[attr-defined]


class MachineForm(ServiceModelForm):
    """Every field the machine API writes. The secrets (user data, vendor data, iPXE script)
    are on the form only for those who may read them; for others they stay as they are."""

    state = forms.ChoiceField(
        choices=[
            (Machine.State.READY, "Ready"),
            (Machine.State.DISCOVERED, "Discovered"),
        ],
        initial=Machine.State.READY,
        label="Initial state",
        help_text="Ready machines take workflows; discovered ones wait to be accepted.",
    )
    ipxe_url = forms.URLField(
        required=False,
        assume_scheme="https",
        label="iPXE URL",
        help_text=Machine._meta.get_field("ipxe_url").help_text,
    )

    sections = [
        (
            "Machine",
            ["hostname", "state", "arch", "uefi", "serial_number", "tags", "description"],
        ),
        ("Rack placement", ["rack", "position", "u_height", "face", "full_depth"]),
        ("Netboot", ["allow_pxe", "allow_workflow", "kernel_params", "ipxe_url", "ipxe_script"]),
        ("Instance data", ["metadata", "user_data", "vendor_data"]),
    ]

    class Meta:
        model = Machine
        fields = [*services.MACHINE_FIELDS, "tags"]
        field_classes = {"rack": RackChoiceField}
        labels = {
            "arch": "Architecture",
            "uefi": "UEFI firmware",
            "u_height": "Height (U)",
            "full_depth": "Full depth",
            "allow_pxe": "Netboot (PXE) allowed",
            "allow_workflow": "Workflows allowed",
        }
        help_texts = {"tags": "Ctrl- or Cmd-click to choose several."}
        widgets = {
            "description": forms.Textarea(attrs={"rows": 2}),
            "metadata": forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
            "user_data": forms.Textarea(attrs={"rows": 4, "class": "font-monospace"}),
            "vendor_data": forms.Textarea(attrs={"rows": 3, "class": "font-monospace"}),
            "ipxe_script": forms.Textarea(attrs={"rows": 3, "class": "font-monospace"}),
            "tags": forms.SelectMultiple(attrs={"size": 4}),
        }

    def __init__(self, *args: Any, user: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        rack_field = self.fields["rack"]
        assert isinstance(rack_field, forms.ModelChoiceField)
        rack_field.queryset = Rack.objects.select_related("site").order_by("site__name", "name")
        rack_field.empty_label = "Not in a rack"
        tags = self.fields["tags"]
        assert isinstance(tags, forms.ModelMultipleChoiceField)
        tags.queryset = Tag.objects.order_by("name")
        self.fields["hostname"].widget.attrs.update(
            {"class": "form-control font-monospace", "autocomplete": "off"}
        )
        self.fields["position"].widget.attrs["min"] = 1
        if self.instance.pk is not None:
            del self.fields["state"]  # later states come from transitions
            self.initial["metadata"] = visible_metadata(self.instance.metadata)
        if not can_view_secrets(user):
            for name in MACHINE_SECRET_FIELDS:
                del self.fields[name]

    def clean_metadata(self) -> Any:
        value = self.cleaned_data.get("metadata")
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise ValidationError('Instance metadata is a JSON object, e.g. {"facility": …}.')
        return value


class AddressListField(forms.CharField):
    """IP addresses separated by commas or spaces, as a list (the model checks each one)."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, list):
            return ", ".join(str(item) for item in value)
        return value

    def to_python(self, value: Any) -> list[str]:  # type: ignore[override]
        text = super().to_python(value) or ""
        return [item for item in re.split(r"[\s,]+", text) if item]


class MachinePartForm(ServiceModelForm):
    """A form for an interface, a disk or the BMC of ``machine``."""

    def __init__(self, *args: Any, machine: Machine, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.machine = machine


class InterfaceForm(MachinePartForm):
    nameservers = AddressListField(required=False, help_text="Separated by commas or spaces.")
    timeservers = AddressListField(required=False, help_text="Separated by commas or spaces.")

    class Meta:
        model = NetworkInterface
        fields = services.INTERFACE_FIELDS
        labels = {
            "vlan_id": "VLAN",
            "lease_time": "Lease time (s)",
            "dhcp_enabled": "DHCP",
            "is_boot": "Boot interface",
        }
        help_texts = {"dhcp_enabled": "Exported to the DHCP server's configuration."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name in ("mac", "ip", "netmask", "gateway", "nameservers", "timeservers"):
            self.fields[name].widget.attrs["class"] += " font-monospace"
        if self.instance.pk is None:
            # The first interface of a machine is the one it boots from, as in the API.
            self.initial["is_boot"] = not self.machine.interfaces.filter(is_boot=True).exists()
            self.fields["is_boot"].help_text += " Choosing it clears the flag on the others."


class DiskForm(MachinePartForm):
    constraint_field = "device"

    class Meta:
        model = Disk
        fields = services.DISK_FIELDS
        labels = {"size_bytes": "Size (bytes)"}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["device"].widget.attrs.update(
            {"class": "form-control font-monospace", "placeholder": "/dev/sda"}
        )


class BMCForm(MachinePartForm):
    """The password is write-only: never put back into the page; left blank, it stays."""

    password = forms.CharField(
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    field_order = ["protocol", "address", "port", "username", "password"]

    class Meta:
        model = BMC
        fields = services.BMC_FIELDS
        labels = {"verify_tls": "Verify the TLS certificate", "redfish_system_id": "System ID"}
        help_texts = {"port": "Blank: 443 for Redfish, 623 for IPMI."}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["address"].widget.attrs["class"] += " font-monospace"
        password = self.fields["password"]
        if self.instance.pk is not None and self.instance.has_password:
            password.help_text = "A password is set. Leave blank to keep it."
        else:
            password.help_text = "Stored encrypted; no page or API shows it again."

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if not data.get("password"):
            data.pop("password", None)  # blank: the stored password is kept
        return data

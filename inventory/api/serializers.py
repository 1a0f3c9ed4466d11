from __future__ import annotations

import functools
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from inventory.api.selection import MachineSelectionResultSerializer, MachineSelectionSerializer
from inventory.fields import normalize_mac
from inventory.metadata_keys import visible_metadata
from inventory.models import (
    BMC,
    Disk,
    Machine,
    NetworkInterface,
    PowerJob,
    Rack,
    Site,
    Tag,
)
from inventory.states import MachineState
from rackpilot.core.api.fields import NameRelatedField
from rackpilot.core.secrets import (
    MACHINE_SECRET_FIELDS,
    can_view_secrets,
    is_mask,
    masked_text,
)


def _user(serializer: serializers.BaseSerializer) -> Any:
    """The requesting user; None without a request (nothing is shown unmasked then)."""
    request = serializer.context.get("request")
    return getattr(request, "user", None)


class TagSerializer(serializers.ModelSerializer):
    class Meta:
        model = Tag
        fields = ["id", "name", "slug", "color", "description"]


class SiteSerializer(serializers.ModelSerializer):
    rack_count = serializers.IntegerField(read_only=True)
    machine_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Site
        fields = [
            "id",
            "name",
            "slug",
            "facility_code",
            "address",
            "description",
            "rack_count",
            "machine_count",
            "created_at",
            "updated_at",
        ]


class RackSerializer(serializers.ModelSerializer):
    site_slug = serializers.CharField(source="site.slug", read_only=True)
    machine_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Rack
        # Constraints are checked by the service (with messages naming the conflict).
        validators: list[object] = []
        fields = [
            "id",
            "site",
            "site_slug",
            "name",
            "u_height",
            "description",
            "machine_count",
            "created_at",
            "updated_at",
        ]


class MACField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        try:
            return normalize_mac(super().to_internal_value(data))
        except DjangoValidationError as exc:
            raise serializers.ValidationError(exc.messages) from exc


class NetworkInterfaceSerializer(serializers.ModelSerializer):
    mac = MACField(max_length=32)
    machine_hostname = serializers.CharField(source="machine.hostname", read_only=True)
    nameservers = serializers.ListField(child=serializers.IPAddressField(), required=False)
    timeservers = serializers.ListField(child=serializers.IPAddressField(), required=False)
    # No default: left out, the service makes the first interface of a machine its boot one.
    is_boot = serializers.BooleanField(
        required=False, help_text="The interface the machine PXE boots."
    )

    class Meta:
        model = NetworkInterface
        # Constraints are checked by the service (with messages naming the conflict).
        validators: list[object] = []
        fields = [
            "id",
            "machine",
            "machine_hostname",
            "name",
            "mac",
            "ip",
            "netmask",
            "gateway",
            "nameservers",
            "timeservers",
            "vlan_id",
            "hostname",
            "lease_time",
            "dhcp_enabled",
            "is_boot",
        ]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["machine"].read_only = True  # an interface does not move between machines
        return fields


class InterfaceSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = NetworkInterface
        fields = [
            "id",
            "name",
            "mac",
            "ip",
            "netmask",
            "gateway",
            "nameservers",
            "vlan_id",
            "hostname",
            "is_boot",
            "dhcp_enabled",
        ]


class DiskSerializer(serializers.ModelSerializer):
    machine_hostname = serializers.CharField(source="machine.hostname", read_only=True)

    class Meta:
        model = Disk
        # Constraints are checked by the service (with messages naming the conflict).
        validators: list[object] = []
        fields = ["id", "machine", "machine_hostname", "device", "size_bytes", "model", "serial"]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["machine"].read_only = True
        return fields


class DiskSummarySerializer(serializers.ModelSerializer):
    class Meta:
        model = Disk
        fields = ["id", "device", "size_bytes", "model", "serial"]


class BMCSerializer(serializers.ModelSerializer):
    machine_hostname = serializers.CharField(source="machine.hostname", read_only=True)
    password = serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        style={"input_type": "password"},
        help_text="Write-only: stored encrypted, never returned.",
    )
    has_password = serializers.BooleanField(read_only=True)

    class Meta:
        model = BMC
        fields = [
            "id",
            "machine",
            "machine_hostname",
            "protocol",
            "address",
            "port",
            "username",
            "password",
            "has_password",
            "verify_tls",
            "redfish_system_id",
            "power_state",
            "power_state_at",
            "inventory",
            "inventory_at",
        ]
        read_only_fields = ["power_state", "power_state_at", "inventory", "inventory_at"]

    def get_fields(self) -> dict[str, serializers.Field]:
        fields = super().get_fields()
        if self.instance is not None and not isinstance(self.instance, list | tuple):
            fields["machine"].read_only = True
        return fields


class BMCSummarySerializer(serializers.ModelSerializer):
    has_password = serializers.BooleanField(read_only=True)

    class Meta:
        model = BMC
        fields = [
            "id",
            "protocol",
            "address",
            "port",
            "username",
            "has_password",
            "verify_tls",
            "power_state",
            "power_state_at",
        ]


class SiteRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    slug = serializers.CharField()
    name = serializers.CharField()


INITIAL_STATES = (MachineState.DISCOVERED, MachineState.READY)


class MachineSerializer(serializers.ModelSerializer):
    rack_name = serializers.CharField(
        source="rack.name", read_only=True, default=None, allow_null=True
    )
    site = serializers.SerializerMethodField()
    # Every state can be read (and sent back unchanged); a new machine starts discovered or
    # ready, and later changes go through /transition/.
    state = serializers.ChoiceField(
        choices=MachineState.choices,
        required=False,
        help_text="Initial state on create (discovered or ready); later changes go through "
        "/transition/.",
    )
    tags = NameRelatedField(
        slug_field="slug", many=True, queryset=Tag.objects.all(), required=False
    )
    interfaces = InterfaceSummarySerializer(many=True, read_only=True)
    disks = DiskSummarySerializer(many=True, read_only=True)
    bmc = serializers.SerializerMethodField()

    class Meta:
        model = Machine
        fields = [
            "id",
            "hostname",
            "rack",
            "rack_name",
            "site",
            "position",
            "u_height",
            "face",
            "full_depth",
            "arch",
            "uefi",
            "state",
            "allow_pxe",
            "allow_workflow",
            "serial_number",
            "description",
            "metadata",
            "user_data",
            "vendor_data",
            "ipxe_url",
            "ipxe_script",
            "kernel_params",
            "tags",
            "hardware",
            "last_seen",
            "interfaces",
            "disks",
            "bmc",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["hardware", "last_seen"]

    def validate_state(self, value: str) -> str:
        if self.instance is None and value not in INITIAL_STATES:
            raise serializers.ValidationError(
                f"A new machine starts {' or '.join(INITIAL_STATES)}; move it on with /transition/."
            )
        return value

    def to_internal_value(self, data: Any) -> Any:
        # A masked value sent back is what the client read, not a new value: keep the stored one.
        if hasattr(data, "items") and any(is_mask(data.get(f)) for f in MACHINE_SECRET_FIELDS):
            data = {
                k: v for k, v in data.items() if not (k in MACHINE_SECRET_FIELDS and is_mask(v))
            }
        return super().to_internal_value(data)

    def to_representation(self, instance: Machine) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not can_view_secrets(_user(self)):
            for name in MACHINE_SECRET_FIELDS:
                if name in data:
                    data[name] = masked_text(data[name])
        if isinstance(data.get("metadata"), dict):
            data["metadata"] = visible_metadata(data["metadata"])
        return data

    @extend_schema_field(SiteRefSerializer(allow_null=True))
    def get_site(self, machine: Machine) -> dict[str, Any] | None:
        if machine.rack is None:
            return None
        site = machine.rack.site
        return {"id": site.pk, "slug": site.slug, "name": site.name}

    @extend_schema_field(BMCSummarySerializer(allow_null=True))
    def get_bmc(self, machine: Machine) -> dict[str, Any] | None:
        try:
            bmc = machine.bmc
        except BMC.DoesNotExist:
            return None
        return dict(self._bmc_summary.to_representation(bmc))

    @functools.cached_property
    def _bmc_summary(self) -> BMCSummarySerializer:
        # One for the whole list (the list's rows share this serializer): a serializer built
        # per row rebuilt its fields per row, 40 % of a page of the API list (py-spy).
        return BMCSummarySerializer(context=self.context)


class MachineTransitionSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=MachineState.choices)
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class MachineAcceptSerializer(serializers.ModelSerializer):
    """What an operator gives a discovered machine when taking it into the fleet."""

    tags = NameRelatedField(
        slug_field="slug", many=True, queryset=Tag.objects.all(), required=False
    )

    class Meta:
        model = Machine
        fields = ["hostname", "rack", "position", "u_height", "face", "full_depth", "tags"]
        extra_kwargs = {name: {"required": False} for name in fields}


class MachineCSVImportSerializer(serializers.Serializer):
    file = serializers.FileField(required=False, help_text="CSV file (multipart upload).")
    csv = serializers.CharField(required=False, trim_whitespace=False, help_text="CSV as text.")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not attrs.get("file") and not attrs.get("csv"):
            raise serializers.ValidationError({"file": "Upload a CSV file or send it as 'csv'."})
        return attrs

    def csv_text(self) -> str:
        upload = self.validated_data.get("file")
        if upload is not None:
            try:
                return str(upload.read().decode("utf-8-sig"))
            except UnicodeDecodeError as exc:
                raise serializers.ValidationError({"file": "The file is not UTF-8 text."}) from exc
        return str(self.validated_data["csv"])


class MachineCSVImportResultSerializer(serializers.Serializer):
    created = serializers.IntegerField()
    machines = serializers.ListField(child=serializers.CharField())


class PowerJobSerializer(serializers.ModelSerializer):
    machine_hostname = serializers.CharField(source="machine.hostname", read_only=True)

    class Meta:
        model = PowerJob
        fields = [
            "id",
            "machine",
            "machine_hostname",
            "action",
            "boot_device",
            "persistent",
            "state",
            "error",
            "power_state",
            "requested_by",
            "reason",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields


class PowerRequestSerializer(serializers.Serializer):
    action = serializers.ChoiceField(choices=PowerJob.Action.choices)
    boot_device = serializers.ChoiceField(
        choices=PowerJob.BootDevice.choices, required=False, default=""
    )
    persistent = serializers.BooleanField(required=False, default=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="", max_length=200)


class PowerBulkSerializer(PowerRequestSerializer, MachineSelectionSerializer):
    pass


class PowerRefusalSerializer(serializers.Serializer):
    machine = serializers.CharField()
    reason = serializers.CharField()


class PowerBulkResultSerializer(serializers.Serializer):
    selected = MachineSelectionResultSerializer()
    queued = PowerJobSerializer(many=True)
    refused = PowerRefusalSerializer(many=True)

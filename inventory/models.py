from __future__ import annotations

import ipaddress

from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models

from inventory.fields import MACAddressField
from inventory.states import MachineState
from rackpilot.core.crypto import decrypt_secret, encrypt_secret

hostname_validator = RegexValidator(
    r"^(?=.{1,253}$)[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
    r"(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*$",
    "Enter a valid hostname: letters, digits and hyphens, dot-separated labels of at most "
    "63 characters, not starting or ending with a hyphen.",
    code="invalid_hostname",
)
device_validator = RegexValidator(
    r"^/dev/[A-Za-z0-9._/-]+$", "A disk device is a path under /dev/, e.g. /dev/sda.", "invalid"
)
color_validator = RegexValidator(r"^[0-9a-fA-F]{6}$", "A colour is six hex digits, e.g. 1f77b4.")


class Tag(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    color = models.CharField(max_length=6, default="6c757d", validators=[color_validator])
    description = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Site(models.Model):
    name = models.CharField(max_length=100, unique=True)
    slug = models.SlugField(max_length=100, unique=True)
    facility_code = models.CharField(
        max_length=64, blank=True, help_text="Tinkerbell/Equinix facility code of the site."
    )
    address = models.CharField(max_length=200, blank=True)
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Rack(models.Model):
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="racks")
    name = models.CharField(max_length=100)
    u_height = models.PositiveSmallIntegerField(
        default=42, validators=[MinValueValidator(1), MaxValueValidator(100)]
    )
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["site", "name"],
                name="rack_unique_name_per_site",
                violation_error_message="This site already has a rack with this name.",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Machine(models.Model):
    State = MachineState

    class Arch(models.TextChoices):
        X86_64 = "x86_64", "x86_64"
        AARCH64 = "aarch64", "aarch64"

    class Face(models.TextChoices):
        FRONT = "front", "Front"
        REAR = "rear", "Rear"

    hostname = models.CharField(
        max_length=253,
        unique=True,
        validators=[hostname_validator],
        error_messages={"unique": "A machine with this hostname already exists."},
    )
    rack = models.ForeignKey(
        Rack, null=True, blank=True, on_delete=models.PROTECT, related_name="machines"
    )
    position = models.PositiveSmallIntegerField(
        null=True, blank=True, help_text="Lowest rack unit the machine occupies (1 = bottom)."
    )
    u_height = models.PositiveSmallIntegerField(
        default=1, validators=[MinValueValidator(1), MaxValueValidator(20)]
    )
    face = models.CharField(max_length=5, choices=Face.choices, default=Face.FRONT)
    full_depth = models.BooleanField(
        default=True, help_text="Occupies both faces of its rack units."
    )
    arch = models.CharField(max_length=8, choices=Arch.choices, default=Arch.X86_64)
    uefi = models.BooleanField(default=True)
    state = models.CharField(
        max_length=16, choices=MachineState.choices, default=MachineState.READY, db_index=True
    )
    allow_pxe = models.BooleanField(default=True, help_text="Netboot may serve this machine.")
    allow_workflow = models.BooleanField(default=True, help_text="Workflows may run on it.")
    serial_number = models.CharField(max_length=100, blank=True)
    description = models.TextField(blank=True)
    metadata = models.JSONField(
        default=dict, blank=True, help_text="Instance metadata (Tinkerbell/Equinix shaped)."
    )
    user_data = models.TextField(blank=True)
    vendor_data = models.TextField(blank=True)
    ipxe_url = models.URLField(blank=True, help_text="Chain to this iPXE script instead.")
    ipxe_script = models.TextField(blank=True, help_text="Serve this iPXE script instead.")
    kernel_params = models.CharField(
        max_length=1000, blank=True, help_text="Extra kernel arguments when netbooting Hook."
    )
    hardware = models.JSONField(
        default=dict, blank=True, help_text="Attributes reported by the agent."
    )
    tags = models.ManyToManyField(Tag, blank=True, related_name="machines")
    last_seen = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["hostname"]
        indexes = [models.Index(fields=["rack", "position"], name="machine_rack_position")]
        # Commands and the right to read secrets, apart from add/change (rackpilot/core/access.py).
        permissions = [
            ("power_machine", "Can send power commands to machines"),
            ("accept_machine", "Can accept discovered machines into the inventory"),
            ("import_machines", "Can import machines (CSV, Tinkerbell Hardware)"),
            (
                "view_secrets",
                "Can view secrets: user data, vendor data, iPXE scripts, action environment",
            ),
        ]

    def __str__(self) -> str:
        return self.hostname

    @property
    def top_unit(self) -> int | None:
        if self.position is None:
            return None
        return self.position + self.u_height - 1


def _validate_netmask(value: str) -> None:
    try:
        ipaddress.IPv4Network(f"0.0.0.0/{value}")
    except ValueError as exc:
        raise ValidationError(
            "'%(value)s' is not a netmask (e.g. 255.255.255.0).",
            code="invalid_netmask",
            params={"value": value},
        ) from exc


class NetworkInterface(models.Model):
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="interfaces")
    name = models.CharField(max_length=32, blank=True, help_text="e.g. eth0")
    mac = MACAddressField(
        unique=True,
        verbose_name="MAC address",
        error_messages={"unique": "This MAC address is already used by another interface."},
    )
    ip = models.GenericIPAddressField(null=True, blank=True, verbose_name="IP address")
    netmask = models.GenericIPAddressField(
        protocol="IPv4", null=True, blank=True, validators=[_validate_netmask]
    )
    gateway = models.GenericIPAddressField(null=True, blank=True)
    nameservers = models.JSONField(default=list, blank=True)
    timeservers = models.JSONField(default=list, blank=True)
    vlan_id = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(4094)]
    )
    hostname = models.CharField(max_length=253, blank=True, validators=[hostname_validator])
    # Seconds; DHCP carries a 32-bit lease time, and Tinkerbell files often give 4294967294
    # (EKS Anywhere's "as long as possible"), past a 32-bit signed column.
    lease_time = models.PositiveBigIntegerField(
        default=86400, validators=[MaxValueValidator(4294967295)]
    )
    dhcp_enabled = models.BooleanField(default=True)
    is_boot = models.BooleanField(default=False, help_text="The interface the machine PXE boots.")

    class Meta:
        ordering = ["machine__hostname", "-is_boot", "name", "mac"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine"],
                condition=models.Q(is_boot=True),
                name="interface_one_boot_per_machine",
                violation_error_message="A machine has at most one boot interface.",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name or 'nic'} {self.mac}"

    def clean(self) -> None:
        for field in ("nameservers", "timeservers"):
            values = getattr(self, field)
            if not isinstance(values, list):
                raise ValidationError({field: "Expected a list of IP addresses."})
            for value in values:
                try:
                    ipaddress.ip_address(str(value))
                except ValueError:
                    raise ValidationError({field: f"'{value}' is not an IP address."}) from None


class Disk(models.Model):
    machine = models.ForeignKey(Machine, on_delete=models.CASCADE, related_name="disks")
    device = models.CharField(max_length=100, validators=[device_validator])
    size_bytes = models.PositiveBigIntegerField(null=True, blank=True)
    model = models.CharField(max_length=100, blank=True)
    serial = models.CharField(max_length=100, blank=True)

    class Meta:
        ordering = ["machine__hostname", "device"]
        constraints = [
            models.UniqueConstraint(
                fields=["machine", "device"],
                name="disk_unique_device_per_machine",
                violation_error_message="This machine already has a disk with this device.",
            )
        ]

    def __str__(self) -> str:
        return self.device


class BMC(models.Model):
    class Protocol(models.TextChoices):
        REDFISH = "redfish", "Redfish"
        IPMI = "ipmi", "IPMI"

    class PowerState(models.TextChoices):
        ON = "on", "On"
        OFF = "off", "Off"
        UNKNOWN = "unknown", "Unknown"

    DEFAULT_PORTS = {Protocol.REDFISH: 443, Protocol.IPMI: 623}

    machine = models.OneToOneField(Machine, on_delete=models.CASCADE, related_name="bmc")
    protocol = models.CharField(max_length=8, choices=Protocol.choices, default=Protocol.REDFISH)
    address = models.CharField(max_length=253, help_text="Host name or IP address of the BMC.")
    port = models.PositiveIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(65535)]
    )
    username = models.CharField(max_length=100, blank=True)
    # Fernet token; never leaves the server (no serializer, form or page shows it).
    password_encrypted = models.TextField(blank=True, editable=False)
    verify_tls = models.BooleanField(default=True)
    redfish_system_id = models.CharField(
        max_length=200, blank=True, help_text="Redfish ComputerSystem path; blank = the only one."
    )
    power_state = models.CharField(
        max_length=8, choices=PowerState.choices, default=PowerState.UNKNOWN
    )
    power_state_at = models.DateTimeField(null=True, blank=True)
    # What the BMC said the machine is made of (Redfish), in the hardware report's shape.
    inventory = models.JSONField(default=dict, blank=True, editable=False)
    inventory_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        verbose_name = "BMC"
        verbose_name_plural = "BMCs"
        ordering = ["machine__hostname"]

    def __str__(self) -> str:
        return f"{self.protocol}://{self.address}"

    @property
    def effective_port(self) -> int:
        return self.port or self.DEFAULT_PORTS[self.Protocol(self.protocol)]

    @property
    def has_password(self) -> bool:
        return bool(self.password_encrypted)

    def set_password(self, plaintext: str) -> None:
        self.password_encrypted = encrypt_secret(plaintext)

    def get_password(self) -> str:
        return decrypt_secret(self.password_encrypted)


# Power jobs live with the rest of power control; imported here so the app registers them.
from inventory.power.models import PowerJob  # noqa: E402

__all__ = ["BMC", "Disk", "Machine", "NetworkInterface", "PowerJob", "Rack", "Site", "Tag"]

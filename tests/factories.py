"""Test data builders. Factories write rows directly; behaviour under test goes via services."""

from __future__ import annotations

import factory
from django.contrib.auth import get_user_model
from factory.django import DjangoModelFactory

from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag


class UserFactory(DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)
        skip_postgeneration_save = True

    username = factory.Sequence(lambda n: f"operator{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("correct-horse-battery")

    @factory.post_generation
    def role(self, create: bool, extracted: str | None, **kwargs: object) -> None:
        """``UserFactory(role="viewer")``: a member of that role's group (the migration's)."""
        if not create or not extracted:
            return
        from django.contrib.auth.models import Group, Permission

        from rackpilot.core.access import create_role_groups

        if not Group.objects.filter(name=extracted).exists():
            create_role_groups(Group, Permission)  # a transactional test flushed the migration's
        self.groups.add(Group.objects.get(name=extracted))

    @factory.post_generation
    def permissions(self, create: bool, extracted: list[str] | None, **kwargs: object) -> None:
        """``UserFactory(permissions=["app.codename", ...])`` grants those permissions."""
        if not create or not extracted:
            return
        from django.contrib.auth.models import Permission

        for label in extracted:
            app_label, codename = label.split(".", 1)
            self.user_permissions.add(
                Permission.objects.get(content_type__app_label=app_label, codename=codename)
            )


class TagFactory(DjangoModelFactory):
    class Meta:
        model = Tag

    name = factory.Sequence(lambda n: f"tag-{n}")
    slug = factory.LazyAttribute(lambda t: t.name)


class SiteFactory(DjangoModelFactory):
    class Meta:
        model = Site

    name = factory.Sequence(lambda n: f"Site {n}")
    slug = factory.Sequence(lambda n: f"site-{n}")
    facility_code = factory.Sequence(lambda n: f"fc{n}")


class RackFactory(DjangoModelFactory):
    class Meta:
        model = Rack

    site = factory.SubFactory(SiteFactory)
    name = factory.Sequence(lambda n: f"R{n:02d}")
    u_height = 42


class MachineFactory(DjangoModelFactory):
    class Meta:
        model = Machine

    hostname = factory.Sequence(lambda n: f"node-{n:03d}")
    rack = None
    position = None
    state = Machine.State.READY


def _mac(n: int) -> str:
    return "52:54:00:" + ":".join(f"{(n >> shift) & 0xFF:02x}" for shift in (16, 8, 0))


class NetworkInterfaceFactory(DjangoModelFactory):
    class Meta:
        model = NetworkInterface

    machine = factory.SubFactory(MachineFactory)
    name = "eth0"
    mac = factory.Sequence(_mac)
    ip = factory.Sequence(lambda n: f"10.20.{n // 250}.{n % 250 + 2}")
    netmask = "255.255.255.0"
    gateway = factory.LazyAttribute(lambda nic: nic.ip.rsplit(".", 1)[0] + ".1")
    is_boot = True


class DiskFactory(DjangoModelFactory):
    class Meta:
        model = Disk

    machine = factory.SubFactory(MachineFactory)
    device = "/dev/sda"
    size_bytes = 480 * 10**9
    model = "SAMSUNG MZ7LH480"
    serial = factory.Sequence(lambda n: f"S4{n:08d}")


class BMCFactory(DjangoModelFactory):
    class Meta:
        model = BMC
        skip_postgeneration_save = True

    machine = factory.SubFactory(MachineFactory)
    protocol = BMC.Protocol.REDFISH
    address = factory.Sequence(lambda n: f"10.99.0.{n % 250 + 2}")
    username = "admin"

    @factory.post_generation
    def password(bmc: BMC, create: bool, extracted: str | None, **kwargs: object) -> None:
        bmc.set_password(extracted or "bmc-secret")
        if create:
            bmc.save(update_fields=["password_encrypted"])

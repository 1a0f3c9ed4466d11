"""Fixtures for netboot: machines with a boot NIC and a default Hook build per arch."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from builds.models import Build, BuildArtifact, BuildRecipe
from builds.states import BuildState
from inventory.models import Machine
from tests.factories import MachineFactory, NetworkInterfaceFactory, RackFactory, SiteFactory

# The qemu boot fixtures, registered here once so that every module of a worker shares the
# session-scoped image push (a fixture imported into two modules would run once for each).
from tests.netboot.qemu import (  # noqa: F401
    artifacts_dir,
    default_hook_build,
    pxe_images,
    pxe_server,
)

PUBLIC_URL = "http://10.0.2.2:8000"


@pytest.fixture(autouse=True)
def _netboot_settings(settings: Any) -> None:
    settings.RACKPILOT_PUBLIC_URL = PUBLIC_URL + "/"
    settings.NETBOOT_GRPC_AUTHORITY = ""
    settings.NETBOOT_SYSLOG_HOST = ""
    settings.NETBOOT_RETRIES = 5
    settings.NETBOOT_RETRY_DELAY_SECONDS = 2
    settings.NETBOOT_TOKEN_TTL_SECONDS = 3600


def make_default_build(arch: str = "x86_64", names: tuple[str, ...] | None = None) -> Build:
    """A successful default build with artifact rows (netboot only links to the files)."""
    recipe, _ = BuildRecipe.objects.get_or_create(
        name="hook", defaults={"config": "kernel: {}", "arches": ["x86_64", "aarch64"]}
    )
    build = Build.objects.create(
        recipe=recipe, arch=arch, state=BuildState.SUCCESS, progress=100, is_default=True
    )
    for name in names if names is not None else (f"vmlinuz-{arch}", f"initramfs-{arch}"):
        BuildArtifact.objects.create(
            build=build, name=name, size=1, sha256="0" * 64, path=f"{build.pk}/{name}"
        )
    return build


@pytest.fixture
def default_build(db: None) -> Build:
    return make_default_build()


def make_machine(
    *, mac: str, ip: str, uefi: bool = False, vlan_id: int | None = None, **values: Any
) -> Machine:
    machine = MachineFactory(uefi=uefi, **values)
    NetworkInterfaceFactory(machine=machine, mac=mac, ip=ip, vlan_id=vlan_id, is_boot=True)
    return machine


@pytest.fixture
def bios_machine(db: None) -> Machine:
    rack = RackFactory(site=SiteFactory(facility_code="fra1"))
    return make_machine(
        hostname="bios-01", mac="52:54:00:12:34:56", ip="10.0.2.15", rack=rack, position=1
    )


@pytest.fixture
def uefi_machine(db: None) -> Machine:
    return make_machine(
        hostname="uefi-01",
        mac="52:54:00:ab:cd:ef",
        ip="10.0.2.16",
        uefi=True,
        vlan_id=42,
        kernel_params="intel_iommu=on  iommu=pt",
        metadata={"facility": {"facility_code": "ams2", "plan_slug": "c3.small"}},
    )


@pytest.fixture
def client() -> Client:
    return Client()

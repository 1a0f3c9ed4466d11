"""Fixtures for netboot: machines with a boot NIC and a default Hook build per arch."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from builds.models import Build, BuildArtifact, BuildRecipe
from builds.states import BuildState
from inventory.models import Machine
from rackpilot.core.actors import Actor
from tests.factories import MachineFactory, NetworkInterfaceFactory, RackFactory, SiteFactory

# The qemu boot fixtures, registered here once so that every module of a worker shares the
# session-scoped image push (a fixture imported into two modules would run once for each).
from tests.netboot.qemu import (  # noqa: F401
    artifacts_dir,
    default_hook_build,
    pxe_images,
    pxe_server,
)
from workflows.models import Template, Workflow
from workflows.services.engine import workflow_create
from workflows.services.templates import template_create

PUBLIC_URL = "http://10.0.2.2:8000"


@pytest.fixture(autouse=True)
def _netboot_settings(settings: Any) -> None:
    settings.RACKPILOT_PUBLIC_URL = PUBLIC_URL + "/"
    settings.NETBOOT_GRPC_AUTHORITY = ""
    settings.NETBOOT_SYSLOG_HOST = ""
    settings.NETBOOT_RETRIES = 5
    settings.NETBOOT_RETRY_DELAY_SECONDS = 2
    settings.NETBOOT_TOKEN_TTL_SECONDS = 3600
    # Django's test client asks from 127.0.0.1: trusted as a relay here, so that a machine's
    # script is served whatever IP the inventory gives it (tests of the source rule clear it).
    settings.NETBOOT_TRUSTED_PROXIES = ["127.0.0.1/32"]


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


ONE_ACTION = """\
version: "0.1"
name: netboot-test
global_timeout: 600
tasks:
  - name: only
    worker: "{{.device_1}}"
    actions:
      - name: step
        image: alpine:3.20
        timeout: 60
"""


def pending_workflow(machine: Machine) -> Workflow:
    """Work for ``machine``: netboot serves Hook (with a boot nonce) only to a machine that
    has a pending or running workflow."""
    actor = Actor.system("tests")
    template = Template.objects.filter(name="netboot-test").first() or template_create(
        actor=actor, name="netboot-test", body=ONE_ACTION
    )
    return workflow_create(template=template, machine=machine, actor=actor)


@pytest.fixture
def bios_machine(db: None) -> Machine:
    rack = RackFactory(site=SiteFactory(facility_code="fra1"))
    machine = make_machine(
        hostname="bios-01", mac="52:54:00:12:34:56", ip="10.0.2.15", rack=rack, position=1
    )
    pending_workflow(machine)
    return machine


@pytest.fixture
def uefi_machine(db: None) -> Machine:
    return with_work(
        make_machine(
            hostname="uefi-01",
            mac="52:54:00:ab:cd:ef",
            ip="10.0.2.16",
            uefi=True,
            vlan_id=42,
            kernel_params="intel_iommu=on  iommu=pt",
            metadata={"facility": {"facility_code": "ams2", "plan_slug": "c3.small"}},
        )
    )


def with_work(machine: Machine) -> Machine:
    pending_workflow(machine)
    return machine


@pytest.fixture
def client() -> Client:
    return Client()

"""A demo fleet: two sites, four racks and forty machines, written through the services.

What a first ``make run`` shows, so the dashboard, rack elevations and admin have something
realistic in them. The fleet is generated from a fixed seed, so every load is identical.
It is meant for an empty inventory and refuses to load into one that has sites or machines.
"""

from __future__ import annotations

import random
import string
import uuid
from collections import Counter
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from inventory import services
from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
from inventory.states import MachineState
from rackpilot.core.actors import Actor

DEMO_SEED = 20250611
GB = 10**9
TB = 10**12
# Rack units 41-42 hold the top-of-rack switches (not modelled), so machines stay below.
TOP_USABLE_UNIT = 40


class DemoFleetError(Exception):
    """The inventory is not empty; the demo fleet would collide with real data."""


@dataclass(frozen=True)
class SitePlan:
    name: str
    slug: str
    address: str
    description: str
    network: str  # first two octets of every address at the site, e.g. "10.10"
    racks: tuple[str, str]


@dataclass(frozen=True)
class Profile:
    """One kind of server: what it is, how big, what it holds."""

    role: str  # hostname part
    u_height: int
    tags: tuple[str, ...]
    plan: str  # Equinix-style plan slug, as Tinkerbell metadata carries it
    manufacturer: str
    serial_prefix: str
    arch: str
    uefi: bool
    disks: tuple[tuple[str, int, str], ...]  # (device, size in bytes, model)
    nics: int
    bmc: str  # protocol
    bmc_user: str
    os: tuple[str, str, str]  # (distro, version, slug)


UBUNTU = ("ubuntu", "22.04", "ubuntu_22_04")
ROCKY = ("rocky", "9", "rocky_9")
FLATCAR = ("flatcar", "3815.2.5", "flatcar_stable")

PROFILES = {
    "cp": Profile(
        role="cp",
        u_height=1,
        tags=("k8s-control-plane",),
        plan="c3.small.x86",
        manufacturer="supermicro",
        serial_prefix="S4",
        arch=Machine.Arch.X86_64,
        uefi=True,
        disks=(("/dev/nvme0n1", 480 * GB, "SAMSUNG MZ1L2480HCJR-00A07"),),
        nics=1,
        bmc=BMC.Protocol.REDFISH,
        bmc_user="ADMIN",
        os=FLATCAR,
    ),
    "k8s": Profile(
        role="k8s",
        u_height=1,
        tags=("k8s-worker",),
        plan="m3.large.x86",
        manufacturer="dell",
        serial_prefix="",
        arch=Machine.Arch.X86_64,
        uefi=True,
        disks=(
            ("/dev/nvme0n1", 1920 * GB, "Micron_7450_MTFDKCB1T9TFR"),
            ("/dev/nvme1n1", 1920 * GB, "Micron_7450_MTFDKCB1T9TFR"),
        ),
        nics=2,
        bmc=BMC.Protocol.REDFISH,
        bmc_user="root",
        os=FLATCAR,
    ),
    "stor": Profile(
        role="stor",
        u_height=2,
        tags=("storage",),
        plan="s3.xlarge.x86",
        manufacturer="supermicro",
        serial_prefix="S3",
        arch=Machine.Arch.X86_64,
        uefi=True,
        disks=(
            ("/dev/sda", 480 * GB, "SAMSUNG MZ7LH480HAHQ-00005"),
            ("/dev/sdb", 16 * TB, "ST16000NM001G-2KK103"),
            ("/dev/sdc", 16 * TB, "ST16000NM001G-2KK103"),
            ("/dev/sdd", 16 * TB, "ST16000NM001G-2KK103"),
        ),
        nics=2,
        bmc=BMC.Protocol.IPMI,
        bmc_user="ADMIN",
        os=ROCKY,
    ),
    "gpu": Profile(
        role="gpu",
        u_height=2,
        tags=("gpu", "k8s-worker"),
        plan="g3.large.x86",
        manufacturer="gigabyte",
        serial_prefix="GJ",
        arch=Machine.Arch.X86_64,
        uefi=True,
        disks=(
            ("/dev/nvme0n1", 3840 * GB, "SAMSUNG MZQL23T8HCLS-00A07"),
            ("/dev/nvme1n1", 3840 * GB, "SAMSUNG MZQL23T8HCLS-00A07"),
        ),
        nics=2,
        bmc=BMC.Protocol.REDFISH,
        bmc_user="admin",
        os=UBUNTU,
    ),
    "arm": Profile(
        role="arm",
        u_height=1,
        tags=("k8s-worker", "arm64"),
        plan="c3.large.arm64",
        manufacturer="gigabyte",
        serial_prefix="GK",
        arch=Machine.Arch.AARCH64,
        uefi=True,
        disks=(("/dev/nvme0n1", 960 * GB, "Micron_7450_MTFDKBA960TFR"),),
        nics=1,
        bmc=BMC.Protocol.IPMI,
        bmc_user="admin",
        os=UBUNTU,
    ),
    "legacy": Profile(
        role="legacy",
        u_height=1,
        tags=("bios-boot",),
        plan="c2.medium.x86",
        manufacturer="dell",
        serial_prefix="",
        arch=Machine.Arch.X86_64,
        uefi=False,
        disks=(
            ("/dev/sda", 240 * GB, "INTEL SSDSC2KB240G8"),
            ("/dev/sdb", 960 * GB, "INTEL SSDSC2KB960G8"),
        ),
        nics=1,
        bmc=BMC.Protocol.IPMI,
        bmc_user="root",
        os=UBUNTU,
    ),
}

TAGS = {
    "gpu": ("76b900", "NVIDIA GPUs; schedule ML jobs here"),
    "storage": ("1f77b4", "Disk-heavy nodes for the Ceph cluster"),
    "k8s-worker": ("326ce5", "Kubernetes worker nodes"),
    "k8s-control-plane": ("9467bd", "Kubernetes control-plane nodes"),
    "arm64": ("ff7f0e", "Ampere Altra (aarch64)"),
    "bios-boot": ("8c564b", "Legacy BIOS netboot (no UEFI)"),
}

SITES = (
    SitePlan(
        name="Frankfurt FRA1",
        slug="fra1",
        address="Frankfurt am Main, Germany",
        description="Primary site, cage 3.",
        network="10.10",
        racks=("FRA1-A01", "FRA1-A02"),
    ),
    SitePlan(
        name="Amsterdam AMS2",
        slug="ams2",
        address="Amsterdam, Netherlands",
        description="Secondary site, suite 2.14.",
        network="10.20",
        racks=("AMS2-B01", "AMS2-B02"),
    ),
)

# What each rack holds, bottom to top (heavy 2U boxes low).
RACK_CONTENTS: dict[str, list[str]] = {
    "FRA1-A01": ["stor", "stor", "cp", "cp", "cp", "k8s", "k8s", "k8s", "k8s"],
    "FRA1-A02": ["gpu", "gpu", "stor", "k8s", "k8s", "k8s", "k8s", "k8s", "legacy"],
    "AMS2-B01": ["cp", "cp", "cp", "k8s", "k8s", "k8s", "k8s", "arm", "arm"],
    "AMS2-B02": ["gpu", "gpu", "stor", "stor", "stor", "k8s", "k8s", "arm", "arm"],
}
# Machines on the staging shelf, not in a rack: (role, just auto-discovered?).
UNRACKED: dict[str, list[tuple[str, bool]]] = {
    "fra1": [("k8s", True), ("legacy", False)],
    "ams2": [("arm", True), ("k8s", False)],
}
# Which machines leave "ready", by hostname (reached through machine_transition).
PROVISIONED = {
    "fra1-cp-01", "fra1-cp-02", "fra1-cp-03", "ams2-cp-01", "ams2-cp-02", "ams2-cp-03",
    "fra1-gpu-01", "ams2-stor-01",
}  # fmt: skip
FAILED = {
    "fra1-k8s-07": "action 'stream-image' exited 1: sha256 mismatch for flatcar_stable.img.gz",
    "ams2-gpu-02": "global timeout (3600 s) reached in action 'kexec'",
}
RETIRED = {"fra1-legacy-02": "Out of warranty; waiting for pickup."}
STAGING_SUBNET = 99


def _random_text(rng: random.Random, length: int) -> str:
    alphabet = string.ascii_uppercase + string.digits
    return "".join(rng.choice(alphabet) for _ in range(length))


class _FleetWriter:
    """Writes the fleet in a fixed order from one seeded generator: same seed, same fleet."""

    def __init__(self, *, actor: Actor, seed: int):
        self.actor = actor
        self.rng = random.Random(seed)
        self.macs: set[str] = set()
        self.role_numbers: Counter[tuple[str, str]] = Counter()
        self.tags: dict[str, Tag] = {}

    def mac(self) -> str:
        while True:
            value = self.rng.getrandbits(24)
            mac = "52:54:00:" + ":".join(f"{(value >> s) & 0xFF:02x}" for s in (16, 8, 0))
            if mac not in self.macs:
                self.macs.add(mac)
                return mac

    def write_tags(self) -> None:
        for name, (color, description) in TAGS.items():
            existing = Tag.objects.filter(slug=name).first()
            self.tags[name] = existing or services.tag_create(
                actor=self.actor, name=name, slug=name, color=color, description=description
            )

    def write_site(self, plan: SitePlan) -> None:
        site = services.site_create(
            actor=self.actor,
            name=plan.name,
            slug=plan.slug,
            facility_code=plan.slug,
            address=plan.address,
            description=plan.description,
        )
        for subnet, rack_name in enumerate(plan.racks, start=1):
            rack = services.rack_create(
                actor=self.actor,
                site=site,
                name=rack_name,
                u_height=42,
                description=f"Row {rack_name[-3]}, {plan.name}.",
            )
            position = 3  # U1-U2 hold the rack's PDUs
            for host, role in enumerate(RACK_CONTENTS[rack_name], start=11):
                profile = PROFILES[role]
                if position + profile.u_height - 1 > TOP_USABLE_UNIT:
                    raise DemoFleetError(f"rack {rack_name} is over-full")
                self.write_machine(
                    plan, profile, subnet=subnet, host=host, rack=rack, position=position
                )
                # Some rows leave a free unit between machines for airflow.
                position += profile.u_height + self.rng.choice((0, 0, 1))
        for host, (role, discovered) in enumerate(UNRACKED[plan.slug], start=11):
            self.write_machine(
                plan, PROFILES[role], subnet=STAGING_SUBNET, host=host, discovered=discovered
            )

    def write_machine(
        self,
        plan: SitePlan,
        profile: Profile,
        *,
        subnet: int,
        host: int,
        rack: Rack | None = None,
        position: int | None = None,
        discovered: bool = False,
    ) -> Machine:
        boot_mac = self.mac()
        if discovered:
            # Auto-discovery names a machine after its boot MAC; nothing else is known yet.
            hostname = "discovered-" + boot_mac.replace(":", "")
        else:
            self.role_numbers[plan.slug, profile.role] += 1
            hostname = (
                f"{plan.slug}-{profile.role}-{self.role_numbers[plan.slug, profile.role]:02d}"
            )
        values: dict[str, Any] = {
            "hostname": hostname,
            "rack": rack,
            "position": position,
            "u_height": profile.u_height,
            "arch": profile.arch,
            "uefi": profile.uefi,
            # Dell service tags are seven characters; the others are longer serials.
            "serial_number": profile.serial_prefix
            + _random_text(self.rng, 10 if profile.serial_prefix else 7),
        }
        if not discovered:
            values["metadata"] = self.metadata(plan, profile, hostname, subnet=subnet, host=host)
            values["user_data"] = f"#cloud-config\nhostname: {hostname}\n"
            values["tags"] = [self.tags[name] for name in profile.tags]
        machine = services.machine_create(
            actor=self.actor,
            state=MachineState.DISCOVERED if discovered else MachineState.READY,
            **values,
        )
        self.write_interfaces(machine, plan, profile, subnet=subnet, host=host, boot_mac=boot_mac)
        self.write_disks(machine, profile)
        self.write_bmc(machine, plan, profile, subnet=subnet, host=host)
        return self.move_along_lifecycle(machine)

    def metadata(
        self, plan: SitePlan, profile: Profile, hostname: str, *, subnet: int, host: int
    ) -> dict[str, Any]:
        distro, version, slug = profile.os
        return {
            "state": "",
            "facility": {
                "facility_code": plan.slug,
                "plan_slug": profile.plan,
                "plan_version_slug": "",
            },
            "manufacturer": {"slug": profile.manufacturer},
            "instance": {
                "id": str(uuid.uuid5(uuid.NAMESPACE_DNS, f"{hostname}.demo.rackpilot")),
                "hostname": hostname,
                "allow_pxe": hostname not in PROVISIONED,
                "always_pxe": False,
                "operating_system": {
                    "distro": distro,
                    "version": version,
                    "slug": slug,
                    "os_slug": slug,
                    "image_tag": "",
                },
                "ips": [
                    {
                        "address": f"{plan.network}.{subnet}.{host}",
                        "netmask": "255.255.255.0",
                        "gateway": f"{plan.network}.{subnet}.1",
                        "family": 4,
                        "public": False,
                        "management": True,
                    }
                ],
                "tags": list(profile.tags),
            },
        }

    def write_interfaces(
        self,
        machine: Machine,
        plan: SitePlan,
        profile: Profile,
        *,
        subnet: int,
        host: int,
        boot_mac: str,
    ) -> None:
        discovered = machine.state == MachineState.DISCOVERED
        services.interface_create(
            machine=machine,
            actor=self.actor,
            name="eth0",
            mac=boot_mac,
            # A discovered machine only has a dynamic lease so far.
            ip=None if discovered else f"{plan.network}.{subnet}.{host}",
            netmask=None if discovered else "255.255.255.0",
            gateway=None if discovered else f"{plan.network}.{subnet}.1",
            nameservers=[f"{plan.network}.0.53", f"{plan.network}.0.54"],
            timeservers=[f"{plan.network}.0.123"],
            hostname="" if discovered else machine.hostname,
            is_boot=True,
        )
        if profile.nics > 1 and not discovered:
            # The storage/data network: static, no gateway, its own VLAN.
            services.interface_create(
                machine=machine,
                actor=self.actor,
                name="eth1",
                mac=self.mac(),
                ip=f"{plan.network}.{subnet + 50}.{host}",
                netmask="255.255.255.0",
                vlan_id=200 + subnet,
                dhcp_enabled=False,
                is_boot=False,
            )

    def write_disks(self, machine: Machine, profile: Profile) -> None:
        for device, size_bytes, model in profile.disks:
            services.disk_create(
                machine=machine,
                actor=self.actor,
                device=device,
                size_bytes=size_bytes,
                model=model,
                serial=model[:2].upper() + _random_text(self.rng, 12),
            )

    def write_bmc(
        self, machine: Machine, plan: SitePlan, profile: Profile, *, subnet: int, host: int
    ) -> None:
        services.bmc_create(
            machine=machine,
            actor=self.actor,
            protocol=profile.bmc,
            address=f"{plan.network}.{subnet + 100}.{host}",
            username=profile.bmc_user,
            password=_random_text(self.rng, 16),
            # BMCs ship self-signed certificates; nobody replaces them on a demo rack.
            verify_tls=False,
        )

    def move_along_lifecycle(self, machine: Machine) -> Machine:
        def go(target: str, reason: str) -> None:
            nonlocal machine
            machine = services.machine_transition(
                machine=machine, actor=self.actor, target=target, reason=reason
            )

        if machine.hostname in PROVISIONED:
            go(MachineState.PROVISIONING, "demo: install workflow started")
            go(MachineState.PROVISIONED, "demo: install workflow succeeded")
            # As Tinkerbell does after an install: the machine boots from its disk now.
            machine = services.machine_update(machine=machine, actor=self.actor, allow_pxe=False)
        elif machine.hostname in FAILED:
            go(MachineState.PROVISIONING, "demo: install workflow started")
            go(MachineState.FAILED, FAILED[machine.hostname])
        elif machine.hostname in RETIRED:
            go(MachineState.RETIRED, RETIRED[machine.hostname])
        return machine


@transaction.atomic
def demo_fleet_load(*, actor: Actor, seed: int = DEMO_SEED) -> dict[str, Any]:
    """Write the demo fleet into an empty inventory; return what was created.

    All or nothing: one transaction. Raises DemoFleetError if sites, racks or machines exist.
    """
    if Machine.objects.exists() or Site.objects.exists() or Rack.objects.exists():
        raise DemoFleetError(
            "The inventory is not empty; the demo fleet loads only into an empty one."
        )
    writer = _FleetWriter(actor=actor, seed=seed)
    writer.write_tags()
    for plan in SITES:
        writer.write_site(plan)
    states = Counter(Machine.objects.values_list("state", flat=True))
    return {
        "sites": Site.objects.count(),
        "racks": Rack.objects.count(),
        "machines": Machine.objects.count(),
        "interfaces": NetworkInterface.objects.count(),
        "disks": Disk.objects.count(),
        "bmcs": BMC.objects.count(),
        "tags": len(writer.tags),
        "states": {state: states[state] for state in MachineState.values if states[state]},
    }

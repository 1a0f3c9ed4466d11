"""Serving netboot: choose the script for a machine, issue its agent token, record the boot."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction

from inventory import services as inventory_services
from inventory.models import Machine, NetworkInterface
from netboot import ipxe, selectors
from netboot.metadata import facility_code
from rackpilot.core.actors import Actor
from rackpilot.core.events import record_event
from workflows.services.agent import agent_token_issue

NETBOOT = Actor.system("netboot")
# Tinkerbell's tink-server gRPC port: Hook expects grpc_authority=<host>:<port>.
DEFAULT_GRPC_PORT = 42113


class NetbootRefused(Exception):
    """The machine gets no script; the message is the reason, served as a 404 body."""


@dataclass(frozen=True)
class ServedScript:
    text: str
    kind: str  # "hook" | "custom" | "chain"
    machine: Machine


def _public_url() -> str:
    return str(settings.RACKPILOT_PUBLIC_URL).rstrip("/")


def _public_host() -> str:
    return urlsplit(_public_url()).hostname or "127.0.0.1"


def hook_kernel_args(
    *, machine: Machine, interface: NetworkInterface, token: str, initrd_name: str | None
) -> str:
    """Hook's kernel command line plus Rackpilot's own; the machine's extra params go last so
    an operator's value wins where a key repeats (the kernel and the agent take the last)."""
    host = _public_host()
    args = [
        f"facility={facility_code(machine)}",
        f"syslog_host={settings.NETBOOT_SYSLOG_HOST or host}",
        f"grpc_authority={settings.NETBOOT_GRPC_AUTHORITY or f'{host}:{DEFAULT_GRPC_PORT}'}",
        "tinkerbell_tls=false",
        f"worker_id={interface.mac}",
        f"hw_addr={interface.mac}",
    ]
    if interface.vlan_id is not None:
        args.append(f"vlan_id={interface.vlan_id}")
    args += [f"rackpilot_url={_public_url()}", f"rackpilot_token={token}"]
    if initrd_name:
        # UEFI iPXE builds of this age only hand the initrd to the kernel's EFI stub when the
        # command line names it.
        args.append(f"initrd={initrd_name}")
    args += ["console=tty0", "console=ttyS0,115200"]
    extra = ipxe.one_line(machine.kernel_params)
    if extra:
        args.append(extra)
    return " ".join(args)


def _hook_script(*, machine: Machine, interface: NetworkInterface) -> tuple[str, int]:
    found = selectors.default_build(machine.arch)
    if found is None:
        raise NetbootRefused(f"no default build for arch {machine.arch}")
    build, names = found
    kernel, initrd = f"vmlinuz-{machine.arch}", f"initramfs-{machine.arch}"
    missing = sorted({kernel, initrd} - names)
    if missing:
        raise NetbootRefused(
            f"the default {machine.arch} build #{build.pk} has no {' or '.join(missing)}"
        )
    _, token = agent_token_issue(
        machine=machine,
        actor=NETBOOT,
        ttl=timedelta(seconds=settings.NETBOOT_TOKEN_TTL_SECONDS),
        description=f"netboot of {interface.mac}",
    )
    args = hook_kernel_args(
        machine=machine,
        interface=interface,
        token=token,
        initrd_name=initrd if machine.uefi else None,
    )
    text = ipxe.hook_script(
        ipxe.HookBoot(
            arch=machine.arch,
            artifacts_url=f"{_public_url()}/artifacts/{machine.arch}",
            kernel_args=args,
            retries=settings.NETBOOT_RETRIES,
            retry_delay=settings.NETBOOT_RETRY_DELAY_SECONDS,
            banner=f"Rackpilot: booting {machine.hostname} ({interface.mac}) into Hook "
            f"build #{build.pk}",
        )
    )
    return text, build.pk


@transaction.atomic
def netboot_script_serve(
    *, interface: NetworkInterface | None, lookup: str, source_ip: str | None
) -> ServedScript:
    """The iPXE script for ``interface``'s machine; raises NetbootRefused with the reason.

    ``lookup`` says how the interface was found (the MAC or the source IP), for the refusal
    and the timeline.
    """
    if interface is None:
        raise NetbootRefused(f"no machine has an interface {lookup}")
    machine = interface.machine
    if not machine.allow_pxe:
        raise NetbootRefused(f"allow_pxe is off for {machine.hostname}")
    build_id = None
    if machine.ipxe_script.strip():
        kind, text = "custom", machine.ipxe_script
    elif machine.ipxe_url:
        kind, text = "chain", ipxe.chain_script(machine.ipxe_url)
    else:
        kind = "hook"
        text, build_id = _hook_script(machine=machine, interface=interface)
    inventory_services.machine_mark_seen(machine=machine)
    record_event(
        actor=NETBOOT,
        verb="netboot.script_served",
        obj=machine,
        machine=machine,
        changes={"script": kind, "mac": interface.mac, "source_ip": source_ip, "build": build_id},
        message=f"{kind} iPXE script for {interface.mac}",
    )
    return ServedScript(text=text, kind=kind, machine=machine)


# Artifact names whose download is a step of a boot, and the timeline verb for each.
FETCH_VERBS = {"vmlinuz": "netboot.kernel_fetched", "initramfs": "netboot.initrd_fetched"}


def fetch_verb(name: str) -> str | None:
    return FETCH_VERBS.get(name.split("-", 1)[0])


@transaction.atomic
def netboot_artifact_fetched(
    *, interface: NetworkInterface, name: str, source_ip: str, partial: bool
) -> None:
    """A netbooting machine (known by its source IP) downloaded the kernel or the initrd."""
    verb = fetch_verb(name)
    if verb is None:
        return
    machine = interface.machine
    inventory_services.machine_mark_seen(machine=machine)
    record_event(
        actor=NETBOOT,
        verb=verb,
        obj=machine,
        machine=machine,
        changes={"artifact": name, "source_ip": source_ip, "partial": partial},
        message=f"{name} fetched by {source_ip}",
    )

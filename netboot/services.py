"""Serving netboot: choose the script for a machine, issue its agent token, record the boot."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from builds.selectors import servable_names
from inventory import services as inventory_services
from inventory.models import Machine, NetworkInterface
from inventory.states import MachineState
from netboot import addresses, ipxe, selectors
from netboot.discovery import waiting_refusal
from netboot.metadata import facility_code
from rackpilot.core.actors import Actor
from rackpilot.core.events import batched_events, record_event
from rackpilot.core.group_commit import GroupCommit
from rackpilot.core.request_context import request_id_var
from workflows.agent_protocol.tokens import boot_nonce_issue, boot_nonce_new, token_issued_event
from workflows.models import AgentToken, Workflow

NETBOOT = Actor.system("netboot")


class NetbootRefused(Exception):
    """The machine gets no script; the message is the reason, served as a 404 body."""


@dataclass(frozen=True)
class ServedScript:
    text: str
    kind: str  # "hook" | "custom" | "chain" | "discovery" | "discovery-probe"
    machine: Machine | None


@dataclass(frozen=True)
class BootTarget:
    """What the kernel command line says about the booting machine."""

    mac: str
    arch: str
    facility: str = ""
    vlan_id: int | None = None
    uefi: bool = False
    extra_params: str = ""
    # Which Hook the default build is: Rackpilot's own ("recipe") or a released HookOS
    # ("hookos"), whose agent image comes from the kernel command line.
    hook_kind: str = "recipe"


# Arm servers (and qemu's virt board) have a PL011 UART; x86 the 16550 at ttyS0. The last
# console= is /dev/console, where Hook's init and agent print.
SERIAL_CONSOLE = {"x86_64": "ttyS0", "aarch64": "ttyAMA0"}


# Kernel arguments another app adds for the software inside Hook (the Tinkerbell app: where
# tink-agent finds its server and where dockerd sends action output), set in its ready().
KernelArgs = Callable[["BootTarget", str], list[str]]
_kernel_args_contributors: list[KernelArgs] = []


def register_kernel_args(contributor: KernelArgs) -> None:
    """``contributor(target, public_host)`` gives arguments that go after ``facility=``."""
    if contributor not in _kernel_args_contributors:
        _kernel_args_contributors.append(contributor)


def _public_url() -> str:
    return str(settings.RACKPILOT_PUBLIC_URL).rstrip("/")


def _public_host() -> str:
    return urlsplit(_public_url()).hostname or "127.0.0.1"


def hook_kernel_args(*, target: BootTarget, token: str, discovery: bool = False) -> str:
    """Hook's kernel command line plus Rackpilot's own; the machine's extra params go last so
    an operator's value wins where a key repeats (the kernel and the agent take the last)."""
    host = _public_host()
    args = [f"facility={target.facility}"]
    for contributor in _kernel_args_contributors:
        args += contributor(target, host)
    args += [f"worker_id={target.mac}", f"hw_addr={target.mac}"]
    if target.vlan_id is not None:
        args.append(f"vlan_id={target.vlan_id}")
    args += [f"rackpilot_url={_public_url()}", f"rackpilot_token={token}"]
    if discovery:
        args.append("rackpilot_discovery=true")
    if target.uefi:
        # UEFI iPXE builds of this age only hand the initrd to the kernel's EFI stub when the
        # command line names it.
        args.append(f"initrd=initramfs-{target.arch}")
    args += ["console=tty0", f"console={SERIAL_CONSOLE.get(target.arch, 'ttyS0')},115200"]
    extra = ipxe.one_line(target.extra_params)
    if extra:
        args.append(extra)
    return " ".join(args)


def _default_build(arch: str) -> tuple[int, str]:
    """The default build's id and kind for ``arch``; NetbootRefused when it cannot boot
    anything."""
    build = selectors.default_build(arch)
    if build is None:
        raise NetbootRefused(f"no default build for arch {arch}")
    missing = sorted(servable_names(arch) - build.names)
    if missing:
        raise NetbootRefused(f"the default {arch} build #{build.pk} has no {' or '.join(missing)}")
    return build.pk, build.kind


def _hook_script(*, target: BootTarget, token: str, banner: str, discovery: bool = False) -> str:
    return ipxe.hook_script(
        ipxe.HookBoot(
            arch=target.arch,
            artifacts_url=f"{_public_url()}/artifacts/{target.arch}",
            kernel_args=hook_kernel_args(target=target, token=token, discovery=discovery),
            retries=settings.NETBOOT_RETRIES,
            retry_delay=settings.NETBOOT_RETRY_DELAY_SECONDS,
            banner=banner,
        )
    )


def _work_for(boot: selectors.BootInterface) -> tuple[Workflow | None, str]:
    """The workflow a boot of ``machine`` is for (None in discovery), or why there is none."""
    machine = boot.machine
    if machine.state == MachineState.DISCOVERED:
        return None, ""  # waiting for acceptance: Hook keeps its agent in touch
    if machine.state == MachineState.RETIRED:
        return None, f"{machine.hostname} is retired"
    if not machine.allow_workflow:
        return None, f"{machine.hostname} does not allow workflows"
    if boot.workflow_id is None:
        return None, f"nothing to do for {machine.hostname}: no pending or running workflow"
    # Only its id is read from here on (the nonce binds to it): no second query for the row.
    return Workflow.from_db(None, ["id"], [boot.workflow_id]), ""


def _machine_hook_script(
    *, boot: selectors.BootInterface, workflow: Workflow | None
) -> tuple[str, int, AgentToken]:
    """The script, the build it boots and its nonce (not saved yet: see ``_BootWrites``)."""
    interface, machine = boot.interface, boot.machine
    build_id, hook_kind = boot.servable_build or _default_build(machine.arch)
    nonce, raw = boot_nonce_new(machine=machine, workflow=workflow, mac=interface.mac)
    target = BootTarget(
        mac=interface.mac,
        arch=machine.arch,
        facility=facility_code(machine),
        vlan_id=interface.vlan_id,
        uefi=machine.uefi,
        extra_params=machine.kernel_params,
        hook_kind=hook_kind,
    )
    banner = f"Rackpilot: booting {machine.hostname} ({interface.mac}) into Hook build #{build_id}"
    return _hook_script(target=target, token=raw, banner=banner), build_id, nonce


# iPXE's ${buildarch} → the machine arch of the build to boot. A legacy-BIOS iPXE
# (undionly.kpxe) is a 32-bit build even on 64-bit machines.
IPXE_BUILD_ARCHES = {"x86_64": "x86_64", "i386": "x86_64", "arm64": "aarch64"}


@transaction.atomic
@batched_events()  # the nonce's and the script's events in one INSERT, inside the transaction
def _discovery_script(*, mac: str, ipxe_arch: str | None, platform: str | None) -> ServedScript:
    if not ipxe_arch:
        # The firmware's arch decides which build to boot: ask iPXE, then serve the real script.
        probe = (
            f"{_public_url()}/ipxe/{mac}/auto.ipxe?arch=${{buildarch:uristring}}"
            "&platform=${platform:uristring}"
        )
        return ServedScript(text=ipxe.chain_script(probe), kind="discovery-probe", machine=None)
    arch = IPXE_BUILD_ARCHES.get(ipxe_arch)
    if arch is None:
        raise NetbootRefused(f"no build for iPXE arch {ipxe_arch!r} (discovery of {mac})")
    build_id, hook_kind = _default_build(arch)
    token, raw = boot_nonce_issue(machine=None, workflow=None, mac=mac, actor=NETBOOT)
    target = BootTarget(mac=mac, arch=arch, uefi=platform == "efi", hook_kind=hook_kind)
    text = _hook_script(
        target=target,
        token=raw,
        discovery=True,
        banner=f"Rackpilot: {mac} is unknown; booting Hook build #{build_id} to discover it",
    )
    record_event(
        actor=NETBOOT,
        verb="netboot.discovery_script_served",
        obj=token,
        changes={"mac": mac, "arch": arch, "platform": platform or "", "build": build_id},
        message=f"discovery iPXE script for unknown {mac}",
    )
    return ServedScript(text=text, kind="discovery", machine=None)


def discovery_refusal(source_ip: str | None) -> str:
    """Why discovery does not answer ``source_ip`` ("" if it does)."""
    if not source_ip or not addresses.in_discovery_subnets(source_ip):
        return (
            f"discovery answers only NETBOOT_DISCOVERY_SUBNETS, and {source_ip or 'this client'} "
            "is not in them"
        )
    return waiting_refusal()


def _unknown_ip_script() -> ServedScript:
    """Discovery by source IP: iPXE knows its MAC, so send it to the by-MAC script."""
    url = f"{_public_url()}/ipxe/${{mac}}/auto.ipxe"
    return ServedScript(text=ipxe.chain_script(url), kind="discovery-probe", machine=None)


@dataclass(frozen=True)
class _BootWrites:
    """What serving a known machine its script writes: stored before the script is sent (Hook
    presents the nonce seconds later), with those of the scripts served meanwhile."""

    machine: Machine
    nonce: AgentToken | None
    served: dict[str, Any]  # the record_event arguments of netboot.script_served
    request_id: str  # the request's, for its events (they are recorded in the writer's thread)


def _boot_writes_store(group: list[_BootWrites]) -> None:
    """A group's nonces in one INSERT, their machines' last-seen in one UPDATE and every
    event in one INSERT."""
    nonces = [writes.nonce for writes in group if writes.nonce is not None]
    AgentToken.objects.bulk_create(nonces)  # ids come back: the events name them
    with batched_events():
        for writes in group:
            request = request_id_var.set(writes.request_id)
            try:
                if writes.nonce is not None:
                    token_issued_event(writes.nonce, NETBOOT)
                record_event(**writes.served)
            finally:
                request_id_var.reset(request)
    inventory_services.machines_mark_seen(
        machine_ids=[writes.machine.pk for writes in group], when=timezone.now()
    )


_boot_writes = GroupCommit("netboot-writes", _boot_writes_store)


def netboot_script_serve(
    *,
    boot: selectors.BootInterface | None,
    lookup: str,
    source_ip: str | None,
    mac: str | None = None,
    ipxe_arch: str | None = None,
    platform: str | None = None,
) -> ServedScript:
    """The iPXE script for ``boot``'s machine; raises NetbootRefused with the reason.

    ``lookup`` says how the interface was found (the MAC or the source IP), for the refusal
    and the timeline. An unknown machine (``boot`` None) gets discovery when it is on:
    ``mac`` is the MAC it asked with (None when it asked by source IP), ``ipxe_arch`` and
    ``platform`` what its iPXE reported.
    """
    if boot is None:
        if not settings.NETBOOT_DISCOVERY:
            raise NetbootRefused(f"no machine has an interface {lookup} (discovery is off)")
        if refusal := discovery_refusal(source_ip):
            raise NetbootRefused(f"no machine has an interface {lookup}; {refusal}")
        if mac is None:
            return _unknown_ip_script()
        return _discovery_script(mac=mac, ipxe_arch=ipxe_arch, platform=platform)
    interface, machine = boot.interface, boot.machine
    if not machine.allow_pxe:
        raise NetbootRefused(f"allow_pxe is off for {machine.hostname}")
    if refusal := source_refusal(interface, source_ip):
        raise NetbootRefused(refusal)
    build_id = workflow = nonce = None
    if machine.ipxe_script.strip():
        kind, text = "custom", machine.ipxe_script
    elif machine.ipxe_url:
        kind, text = "chain", ipxe.chain_script(machine.ipxe_url)
    else:
        workflow, nothing_to_do = _work_for(boot)
        if nothing_to_do:
            kind, text = "exit", ipxe.exit_script(nothing_to_do)
        else:
            kind = "hook"
            text, build_id, nonce = _machine_hook_script(boot=boot, workflow=workflow)
    served = {
        "actor": NETBOOT,
        "verb": "netboot.script_served",
        "obj": machine,
        "machine": machine,
        "changes": {
            "script": kind,
            "mac": interface.mac,
            "source_ip": source_ip,
            "build": build_id,
            "workflow": workflow.pk if workflow else None,
        },
        "message": f"{kind} iPXE script for {interface.mac}",
    }
    _boot_writes.commit(
        _BootWrites(machine=machine, nonce=nonce, served=served, request_id=request_id_var.get())
    )
    return ServedScript(text=text, kind=kind, machine=machine)


def source_refusal(interface: NetworkInterface, source_ip: str | None) -> str:
    """Why ``source_ip`` may not fetch ``interface``'s script ("" if it may): where the
    inventory knows the interface's address, only that address or a trusted relay/proxy
    (NETBOOT_TRUSTED_PROXIES) gets it, so a script and its nonce go to the machine itself."""
    if not interface.ip or not source_ip or source_ip == str(interface.ip):
        return ""
    if addresses.is_trusted_proxy(source_ip):
        return ""
    return (
        f"{interface.mac} has IP {interface.ip}: its script is not served to {source_ip} "
        "(add a relay or proxy to NETBOOT_TRUSTED_PROXIES)"
    )


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

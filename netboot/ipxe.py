"""iPXE scripts as text. Pure functions: the service decides what to serve, these only write it.

The Hook script follows Tinkerbell Smee's ``auto.ipxe``: each of kernel, initrd and boot is
retried with a counter (here with a pause between tries, so a rebooting web server or a busy
link gets time to recover), and a final failure prints why and exits so the firmware falls
through to its next boot device instead of hanging in a shell nobody watches.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class HookBoot:
    arch: str
    artifacts_url: str  # .../artifacts/<arch>, no trailing slash
    kernel_args: str
    retries: int
    retry_delay: int
    banner: str


def _retried(label: str, command: str, what: str) -> list[str]:
    return [
        "set idx:int32 0",
        f":retry_{label}",
        f"{command} && goto {label}_done ||",
        f"iseq ${{idx}} ${{retries}} && goto {label}_error ||",
        "inc idx",
        f"echo Could not {what}: try ${{idx}} of ${{retries}} again in ${{retry_delay}}s",
        "sleep ${retry_delay}",
        f"goto retry_{label}",
        f":{label}_done",
        "",
    ]


def _failure(label: str, what: str) -> list[str]:
    return [
        f":{label}_error",
        f"echo Rackpilot netboot failed: could not {what} after ${{retries}} retries.",
        "echo Exiting to the next boot device in 10 seconds.",
        "sleep 10",
        "exit 1",
        "",
    ]


def hook_script(boot: HookBoot) -> str:
    kernel = f"kernel {boot.artifacts_url}/vmlinuz-{boot.arch} {boot.kernel_args}"
    initrd = f"initrd {boot.artifacts_url}/initramfs-{boot.arch}"
    lines = [
        "#!ipxe",
        "",
        f"echo {boot.banner}",
        f"set retries:int32 {boot.retries}",
        f"set retry_delay:int32 {boot.retry_delay}",
        "",
        *_retried("kernel", kernel, "load the kernel"),
        *_retried("initrd", initrd, "load the initrd"),
        *_retried("boot", "boot", "boot"),
        # ``boot`` only returns on failure; the retry loop above already handled it.
        "goto boot_error",
        "",
        *_failure("kernel", "load the kernel"),
        *_failure("initrd", "load the initrd"),
        *_failure("boot", "boot"),
    ]
    return "\n".join(lines)


def chain_script(url: str) -> str:
    """Hand over to an operator's own script; ``--autofree`` frees it if that one returns."""
    return f"#!ipxe\n\nchain --autofree {url}\n"


def one_line(text: str) -> str:
    """Kernel arguments on one line: a newline in the inventory must not become a command."""
    return " ".join(text.split())


def exit_script(reason: str) -> str:
    """Nothing to boot into: say why and hand back to the firmware's next boot device (the
    local disk, after a workflow installed an OS), as Tinkerbell does."""
    return (
        "#!ipxe\n\n"
        f"echo Rackpilot: {one_line(reason)}\n"
        "echo Exiting to the next boot device.\n"
        "exit\n"
    )

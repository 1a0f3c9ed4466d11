"""What HookOS reads from the kernel command line beside Rackpilot's own arguments."""

from __future__ import annotations

from django.conf import settings

from netboot.services import BootTarget

# Tinkerbell's tink-server gRPC port: Hook's tink-agent dials grpc_authority=<host>:<port>.
DEFAULT_GRPC_PORT = 42113


def hook_kernel_args(target: BootTarget, public_host: str) -> list[str]:
    """Where Hook's dockerd sends action output (syslog) and where tink-agent finds its
    workflow server; TLS is off until the server offers it."""
    grpc_authority = settings.NETBOOT_GRPC_AUTHORITY or f"{public_host}:{DEFAULT_GRPC_PORT}"
    args = [
        f"syslog_host={settings.NETBOOT_SYSLOG_HOST or public_host}",
        f"grpc_authority={grpc_authority}",
        f"tinkerbell_tls={'true' if settings.TINKERBELL_GRPC_TLS_CERT else 'false'}",
    ]
    if target.hook_kind == "hookos":
        # A released HookOS starts the agent image its command line names (tink-agent).
        args.append(f"tink_worker_image={settings.TINKERBELL_WORKER_IMAGE}")
    return args

"""Settings from command-line flags, the environment and the kernel command line.

Precedence is flags > environment > kernel command line > built-in default. Netboot puts
``rackpilot_url=``, ``rackpilot_token=`` and ``worker_id=`` on the kernel command line, so an
agent inside Hook needs no other configuration; flags and the environment exist for operators
and tests. Every option is declared once in ``OPTIONS`` so ``--help`` and the resolver cannot
disagree about where a value may come from.
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rackpilot_agent import __version__
from rackpilot_agent.hardware import first_mac

DEFAULT_CMDLINE = Path("/proc/cmdline")
DEFAULT_STATUS_PATH = Path("/run/rackpilot-agent/status.json")
# Hook's own parameters: read and logged so an operator can see what the machine booted with,
# but the agent itself does not need them.
HOOK_PARAMETERS = ("grpc_authority", "tinkerbell_tls", "syslog_host", "hw_addr", "facility")


class ConfigError(Exception):
    """The settings are incomplete or malformed; the message says which one and why."""


def parse_size(text: str) -> int:
    """Bytes from ``1048576``, ``512K``, ``64M`` or ``1G`` (binary multiples)."""
    match = re.fullmatch(r"\s*(\d+)\s*([KMGkmg]?)(?:i?[Bb])?\s*", text)
    if not match:
        raise ValueError(f"not a size: {text!r}")
    number, unit = match.groups()
    return int(number) * {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30}[unit.lower()]


def parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


def parse_time(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def parse_cmdline(text: str) -> dict[str, str]:
    """``key=value`` pairs of a kernel command line; a bare word maps to ``""``.

    Quoted values (``key="a b"``) are unquoted as the kernel does. When a key repeats, the
    last one wins, as it does for most kernel parameters.
    """
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: the kernel itself would split on spaces
        words = text.split()
    params: dict[str, str] = {}
    for word in words:
        key, _, value = word.partition("=")
        if key:
            params[key] = value
    return params


def read_cmdline(path: Path) -> dict[str, str]:
    try:
        return parse_cmdline(path.read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return {}  # not inside Hook (or no /proc): flags and environment still work


@dataclass(frozen=True)
class Option:
    """One setting and every place it may come from."""

    dest: str
    flag: str
    help: str
    env: str | None = None
    cmdline: tuple[str, ...] = ()
    default: Any = None
    parse: Callable[[str], Any] = str
    metavar: str | None = None
    shown: str | None = None  # the default as --help shows it, when str(default) is unclear


# fmt: off
OPTIONS: tuple[Option, ...] = (
    Option("url", "--url", "Rackpilot's base URL (http(s)://host[:port]).",
           env="RACKPILOT_URL", cmdline=("rackpilot_url",)),
    Option("token", "--token", "agent token (rpa_...).",
           env="RACKPILOT_TOKEN", cmdline=("rackpilot_token",)),
    Option("token_file", "--token-file",
           "file holding the token; re-read before every connection, so an operator can "
           "replace a revoked or expired token without restarting the agent.",
           env="RACKPILOT_TOKEN_FILE", parse=Path, metavar="PATH"),
    Option("token_expires_at", "--token-expires-at",
           "when the token expires (ISO 8601); the agent renews it 10 minutes before.",
           env="RACKPILOT_TOKEN_EXPIRES_AT", cmdline=("rackpilot_token_expires",),
           parse=parse_time, metavar="TIME"),
    Option("worker_id", "--worker-id",
           "this machine's worker id (its boot MAC); defaults to hw_addr= or the first "
           "non-loopback NIC's MAC.", env="WORKER_ID", cmdline=("worker_id", "hw_addr")),
    Option("docker_host", "--docker-host", "Docker Engine API endpoint.",
           env="DOCKER_HOST", default="unix:///var/run/docker.sock", metavar="URL"),
    Option("state_dir", "--state-dir",
           "directory for the log spool and the renewed token; survives agent restarts.",
           env="RACKPILOT_STATE_DIR", default=Path("/var/lib/rackpilot-agent"), parse=Path,
           metavar="PATH"),
    Option("spool_cap", "--spool-cap",
           "most bytes of unacknowledged log lines kept on disk per action (K/M/G suffixes).",
           env="RACKPILOT_SPOOL_CAP", default=256 << 20, parse=parse_size, metavar="SIZE",
           shown="256M"),
    Option("network_mode", "--network-mode",
           "network mode of action containers; Hook's actions expect the host's network.",
           env="RACKPILOT_NETWORK_MODE", default="host", metavar="MODE"),
    Option("registry", "--registry",
           "registry host the credentials below are for (Hook's docker_registry=).",
           env="DOCKER_REGISTRY", cmdline=("docker_registry",)),
    Option("registry_username", "--registry-username", "registry user name.",
           env="REGISTRY_USERNAME", cmdline=("registry_username",)),
    Option("registry_password", "--registry-password", "registry password.",
           env="REGISTRY_PASSWORD", cmdline=("registry_password",)),
    Option("pull_attempts", "--pull-attempts",
           "image pull attempts before falling back to a local copy of the image.",
           env="RACKPILOT_PULL_ATTEMPTS", default=3, parse=int, metavar="N"),
    Option("stop_grace", "--stop-grace",
           "seconds between SIGTERM and SIGKILL when stopping a container.",
           env="RACKPILOT_STOP_GRACE", default=10, parse=int, metavar="SECONDS"),
    Option("detach_grace", "--detach-grace",
           "seconds a reboot/kexec action must keep running before it is reported a success.",
           env="RACKPILOT_DETACH_GRACE", default=2.0, parse=float, metavar="SECONDS"),
    Option("backoff_initial", "--backoff-initial", "first reconnect delay cap, in seconds.",
           env="RACKPILOT_BACKOFF_INITIAL", default=0.5, parse=float, metavar="SECONDS"),
    Option("backoff_max", "--backoff-max", "largest reconnect delay, in seconds.",
           env="RACKPILOT_BACKOFF_MAX", default=30.0, parse=float, metavar="SECONDS"),
    Option("auth_retry", "--auth-retry",
           "seconds between attempts while the server refuses the token.",
           env="RACKPILOT_AUTH_RETRY", default=60.0, parse=float, metavar="SECONDS"),
    Option("max_auth_failures", "--max-auth-failures",
           "exit after this many refused connections in a row (0: keep trying; "
           "default 0, or 1 with --once).",
           env="RACKPILOT_MAX_AUTH_FAILURES", parse=int, metavar="N"),
    Option("recheck", "--recheck",
           "seconds between safety re-asks for work while idle (work is normally pushed).",
           env="RACKPILOT_RECHECK", default=60.0, parse=float, metavar="SECONDS"),
    Option("hardware_root", "--hardware-root",
           "root of the /proc and /sys trees hardware is read from.",
           env="RACKPILOT_HARDWARE_ROOT", default=Path("/"), parse=Path, metavar="PATH"),
    Option("cmdline_path", "--cmdline", "kernel command line to read parameters from.",
           env="RACKPILOT_CMDLINE", default=DEFAULT_CMDLINE, parse=Path, metavar="PATH"),
    Option("log_level", "--log-level", "DEBUG, INFO, WARNING or ERROR.",
           env="RACKPILOT_LOG_LEVEL", default="INFO", metavar="LEVEL"),
    Option("status_path", "--status-file",
           "JSON file the agent keeps its current state in, for `rackpilot-agent status`.",
           env="RACKPILOT_AGENT_STATUS", default=DEFAULT_STATUS_PATH, parse=Path,
           metavar="PATH"),
    Option("console", "--console",
           "device to copy the agent's log to, e.g. /dev/console or /dev/ttyS0 (it always "
           "goes to stderr too).",
           env="RACKPILOT_AGENT_CONSOLE", cmdline=("rackpilot_console",), metavar="DEVICE"),
)
# fmt: on


@dataclass(frozen=True)
class Settings:
    url: str
    token: str
    worker_id: str
    docker_host: str = "unix:///var/run/docker.sock"
    token_file: Path | None = None
    token_expires_at: datetime | None = None
    state_dir: Path = Path("/var/lib/rackpilot-agent")
    spool_cap: int = 256 << 20
    network_mode: str = "host"
    registry: str | None = None
    registry_username: str | None = None
    registry_password: str | None = None
    pull_attempts: int = 3
    stop_grace: int = 10
    detach_grace: float = 2.0
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    auth_retry: float = 60.0
    max_auth_failures: int = 0
    recheck: float = 60.0
    hardware_root: Path = Path("/")
    cmdline_path: Path = DEFAULT_CMDLINE
    log_level: str = "INFO"
    # None writes no status file: settings built in code (tests, embedding) opt in, while the
    # command line always gets DEFAULT_STATUS_PATH.
    status_path: Path | None = None
    console: str | None = None
    once: bool = False
    kernel_params: dict[str, str] = field(default_factory=dict)

    @property
    def spool_dir(self) -> Path:
        return self.state_dir / "spool"

    @property
    def websocket_url(self) -> str:
        return websocket_url(self.url)


def websocket_url(base: str) -> str:
    """``/ws/agent/`` under ``base``, with http→ws and https→wss."""
    scheme, sep, rest = base.partition("://")
    if not sep:
        raise ConfigError(f"the server URL {base!r} needs a scheme (http:// or https://)")
    schemes = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}
    if scheme.lower() not in schemes:
        raise ConfigError(f"the server URL {base!r} must start with http(s):// or ws(s)://")
    return f"{schemes[scheme.lower()]}://{rest.rstrip('/')}/ws/agent/"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rackpilot-agent",
        description=(
            "Run Rackpilot workflow actions as containers and stream their logs. Each option "
            "may also come from the environment variable or kernel command-line parameter "
            "named in its help; flags win over the environment, which wins over the kernel "
            "command line."
        ),
        epilog="`rackpilot-agent status [--status-file PATH]` shows what a running agent does.",
    )
    for option in OPTIONS:
        sources = []
        if option.env:
            sources.append(f"env {option.env}")
        sources.extend(f"cmdline {key}=" for key in option.cmdline)
        if option.default is not None:
            sources.append(f"default {option.shown or option.default}")
        suffix = f" [{'; '.join(sources)}]" if sources else ""
        parser.add_argument(
            option.flag, dest=option.dest, metavar=option.metavar, help=option.help + suffix
        )
    parser.add_argument(
        "--once",
        action="store_true",
        help="run actions until the server has no work for this machine, then exit.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def _resolve(
    option: Option, flag_value: str | None, environ: Mapping[str, str], kernel: Mapping[str, str]
) -> Any:
    candidates: list[tuple[str, str | None]] = [(option.flag, flag_value)]
    if option.env:
        candidates.append((f"${option.env}", environ.get(option.env)))
    candidates.extend((f"{key}=", kernel.get(key)) for key in option.cmdline)
    for source, raw in candidates:
        if raw is None or raw == "":
            continue  # an empty variable counts as unset, as it does for DOCKER_HOST
        try:
            return option.parse(raw)
        except ValueError as exc:
            raise ConfigError(f"{source}: {exc}") from None
    return option.default


def resolve_option(
    dest: str, flag_value: str | None = None, environ: Mapping[str, str] | None = None
) -> Any:
    """One setting from its flag, the environment or its default, without loading the rest
    (``rackpilot-agent status`` needs no server URL or token)."""
    option = next(o for o in OPTIONS if o.dest == dest)
    return _resolve(option, flag_value, os.environ if environ is None else environ, {})


def load_settings(
    argv: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    cmdline_path: Path | None = None,
) -> Settings:
    """Settings from ``argv`` (flags), ``environ`` and the kernel command line."""
    args = build_parser().parse_args(argv)
    env = os.environ if environ is None else environ
    flags: dict[str, Any] = vars(args)
    values: dict[str, Any] = {}
    # The command line's own path may come from a flag or the environment, never from itself.
    path_option = next(o for o in OPTIONS if o.dest == "cmdline_path")
    path = cmdline_path or _resolve(path_option, flags.get("cmdline_path"), env, {})
    kernel = read_cmdline(path)
    for option in OPTIONS:
        values[option.dest] = _resolve(option, flags.get(option.dest), env, kernel)
    values["cmdline_path"] = path
    values["once"] = bool(flags.get("once"))
    if values["max_auth_failures"] is None:
        # A one-shot run (tests, scripts) must not wait forever for a token that will not come.
        values["max_auth_failures"] = 1 if values["once"] else 0
    if not values["worker_id"]:
        values["worker_id"] = first_mac(values["hardware_root"])
    values["kernel_params"] = {k: kernel[k] for k in HOOK_PARAMETERS if k in kernel}
    return validate(Settings(**values))


def validate(settings: Settings) -> Settings:
    if not settings.url:
        raise ConfigError(
            "no server URL: pass --url, set RACKPILOT_URL or boot with rackpilot_url="
        )
    websocket_url(settings.url)  # raises ConfigError for an unusable scheme
    if not settings.token and settings.token_file is None:
        raise ConfigError(
            "no agent token: pass --token or --token-file, set RACKPILOT_TOKEN or boot with "
            "rackpilot_token="
        )
    if not settings.worker_id:
        raise ConfigError(
            "no worker id: pass --worker-id, set WORKER_ID, boot with worker_id= or hw_addr=, "
            "or give the machine a network interface"
        )
    if settings.pull_attempts < 1:
        raise ConfigError("--pull-attempts must be at least 1")
    if settings.backoff_initial <= 0 or settings.backoff_max < settings.backoff_initial:
        raise ConfigError("--backoff-initial must be > 0 and at most --backoff-max")
    return settings

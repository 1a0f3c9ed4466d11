"""Power drivers: Redfish through the sushy library, IPMI through the ipmitool binary.

``driver_for(access)`` returns a driver for one BMC. Every failure, whether the BMC cannot be
reached or it refuses, is a ``PowerError`` whose message names the BMC, what was asked and why
(the BMC's own words when it gave any), and never contains the password.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol
from urllib.parse import urlsplit

import sushy
from sushy import exceptions as sushy_exceptions

from inventory.power.redfish_inventory import read_inventory

IPMI_DEFAULT_PORT = 623
REDFISH_ROOT = "/redfish/v1"


class PowerAction(StrEnum):
    ON = "on"
    OFF = "off"
    SOFT_OFF = "soft_off"
    CYCLE = "cycle"
    RESET = "reset"


class BootDevice(StrEnum):
    PXE = "pxe"
    DISK = "disk"


class PowerError(Exception):
    """Could not reach the BMC, or it refused: the message says which BMC, what was asked and why
    (the BMC's own message when it gave one); never contains the password."""


@dataclass(frozen=True)
class BmcAccess:
    protocol: str  # "redfish" | "ipmi"
    address: str
    port: int | None
    username: str
    # Kept out of repr() so that a logged or printed BmcAccess does not leak it.
    password: str = field(repr=False)
    verify_tls: bool = True
    redfish_system_id: str = ""


class PowerDriver(Protocol):
    def power_state(self) -> str:
        """Returns "on", "off" or "unknown"."""
        ...

    def power(self, action: PowerAction) -> None: ...

    def set_boot_device(self, device: BootDevice, *, persistent: bool = False) -> None: ...

    def inventory(self) -> dict[str, Any]:
        """What the machine is made of, in the shape of Rackpilot's hardware report."""
        ...


def driver_for(access: BmcAccess, *, timeout: float = 30.0) -> PowerDriver:
    protocol = access.protocol.lower()
    if protocol == "redfish":
        return RedfishDriver(access, timeout=timeout)
    if protocol == "ipmi":
        return IpmiDriver(access, timeout=timeout)
    raise PowerError(f"BMC {access.address}: unknown protocol {access.protocol!r}")


def redact(text: str, password: str) -> str:
    # Belt and braces: nothing we build contains the password, but a BMC or a library could echo
    # it back (an address with credentials in it, a verbose error page).
    return text.replace(password, "***") if password else text


def _fail(access: BmcAccess, label: str, what: str, why: str) -> PowerError:
    return PowerError(redact(f"{label}: {what} failed: {why}", access.password))


# --- Redfish ---------------------------------------------------------------------------------


def redfish_base_url(access: BmcAccess) -> str:
    """The service root URL, e.g. ``https://10.0.0.5/redfish/v1``."""
    address = access.address.strip().rstrip("/")
    if "://" in address:
        parts = urlsplit(address)
        netloc = parts.netloc
        if access.port and parts.port is None:
            netloc = f"{netloc}:{access.port}"
        path = parts.path.rstrip("/")
        if not path.endswith(REDFISH_ROOT):
            path += REDFISH_ROOT
        return f"{parts.scheme}://{netloc}{path}"
    host = f"[{address}]" if ":" in address and not address.startswith("[") else address
    port = f":{access.port}" if access.port and access.port != 443 else ""
    return f"https://{host}{port}{REDFISH_ROOT}"


def _last_segment(path: str) -> str:
    return path.strip().rstrip("/").rsplit("/", 1)[-1]


_OS_ERROR = re.compile(
    r"\[Errno -?\d+\][^'\")]*|(?:Read|Connect(?:ion)?) timed out\.?(?: \([^)]*\))?"
)


def _connection_reason(message: str) -> str:
    # requests buries the reason ("[Errno 111] Connection refused", "Read timed out.") in a long
    # repr of its connection pool; keep just that, or the whole text (TLS errors...) otherwise.
    found = _OS_ERROR.search(message)
    return found.group(0).strip() if found else message


# How each action is asked of a Redfish system. CYCLE is decided at run time (see _cycle).
_REDFISH_RESETS = {
    PowerAction.OFF: sushy.ResetType.FORCE_OFF,
    PowerAction.SOFT_OFF: sushy.ResetType.GRACEFUL_SHUTDOWN,
    PowerAction.RESET: sushy.ResetType.FORCE_RESTART,
}
_REDFISH_BOOT_TARGETS = {
    BootDevice.PXE: sushy.BootSource.PXE,
    BootDevice.DISK: sushy.BootSource.HDD,
}
_REDFISH_POWER_STATES = {sushy.PowerState.ON: "on", sushy.PowerState.OFF: "off"}
# sushy retries a request that failed in transit (refused, timed out) up to this many attempts
# in all, POSTs included, and a GET answered 5xx once more. One attempt: an unreachable BMC is
# reported within one timeout (not sushy's default ten tries three seconds apart), and a reset
# whose answer was lost is not sent twice; the caller (a Celery task) decides about retrying.
_REDFISH_ATTEMPTS = 1
_REDFISH_RETRY_DELAY = 1


class RedfishDriver:
    def __init__(self, access: BmcAccess, *, timeout: float = 30.0) -> None:
        self.access = access
        self.timeout = timeout
        self.base_url = redfish_base_url(access)
        self.label = f"Redfish BMC {self.base_url}"
        self._root: Any = None
        self._system: Any = None

    @contextmanager
    def _asking(self, what: str) -> Iterator[None]:
        try:
            yield
        except sushy_exceptions.AccessError as exc:
            why = f"the BMC refused user {self.access.username!r} (HTTP {exc.status_code})"
            raise _fail(self.access, self.label, what, why) from None
        except sushy_exceptions.HTTPError as exc:
            detail = getattr(exc, "detail", None) or exc.message
            why = f"the BMC answered HTTP {exc.status_code}: {detail}"
            raise _fail(self.access, self.label, what, why) from None
        except sushy_exceptions.ConnectionError as exc:
            why = f"could not connect: {_connection_reason(exc.message)}"
            raise _fail(self.access, self.label, what, why) from None
        except sushy_exceptions.SushyError as exc:
            raise _fail(self.access, self.label, what, str(exc.message or exc)) from None
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            # sushy passes through what it cannot parse (invalid JSON, a list for an object):
            # that is the BMC's fault and must fail the job, not escape it.
            why = f"the BMC's answer is not valid Redfish ({type(exc).__name__}: {exc})"
            raise _fail(self.access, self.label, what, why) from None

    def _connect(self) -> Any:
        if self._system is not None:
            return self._system
        parts = urlsplit(self.base_url)
        with self._asking("connecting"):
            self._root = sushy.Sushy(
                f"{parts.scheme}://{parts.netloc}",
                root_prefix=parts.path + "/",
                auth=sushy.auth.BasicAuth(
                    username=self.access.username, password=self.access.password
                ),
                verify=self.access.verify_tls,
                # Each HTTP request is bounded by the timeout; one operation makes a few.
                read_timeout=self.timeout,
                connect_timeout=self.timeout,
                server_side_retries=_REDFISH_ATTEMPTS,
                server_side_retries_delay=_REDFISH_RETRY_DELAY,
            )
            members = list(self._root.get_system_collection().members_identities)
        ids = {_last_segment(member): member for member in members}
        # Accept the bare id ("1", "System.Embedded.1") or the whole path.
        wanted = _last_segment(self.access.redfish_system_id)
        chosen = ([ids[wanted]] if wanted in ids else []) if wanted else members
        if len(chosen) != 1:
            listed = ", ".join(ids) or "none"
            if wanted:
                why = f"no system {wanted!r} (systems: {listed})"
            else:
                why = f"it has {len(members)} systems ({listed}): set the Redfish system id"
            raise _fail(self.access, self.label, "choosing the system", why)
        with self._asking("reading the system"):
            self._system = self._root.get_system(chosen[0])
        return self._system

    def power_state(self) -> str:
        system = self._connect()
        with self._asking("reading the power state"):
            system.refresh(force=True)
            # Transitional states (PoweringOn/Off, Paused) are neither: report them as unknown.
            return _REDFISH_POWER_STATES.get(system.power_state, "unknown")

    def power(self, action: PowerAction) -> None:
        action = PowerAction(action)
        system = self._connect()
        with self._asking(f"power {action}"):
            if action is PowerAction.ON:
                reset = self._power_on_reset(system)
            elif action is PowerAction.CYCLE:
                reset = self._cycle(system)
            else:
                reset = _REDFISH_RESETS[action]
        with self._asking(f"power {action} ({reset.value})"):
            system.reset_system(reset)

    @staticmethod
    def _power_on_reset(system: Any) -> Any:
        # Some BMCs only offer ForceOn; prefer the plain On where it exists.
        allowed = system.get_allowed_reset_system_values()
        if sushy.ResetType.ON not in allowed and sushy.ResetType.FORCE_ON in allowed:
            return sushy.ResetType.FORCE_ON
        return sushy.ResetType.ON

    def _cycle(self, system: Any) -> Any:
        # A cycle means "off, then a fresh boot". ForceRestart is the reset type nearly every BMC
        # implements (PowerCycle is rare), but many refuse to restart a system that is off, so an
        # off system is simply powered on, which boots it afresh all the same.
        system.refresh(force=True)
        if system.power_state == sushy.PowerState.OFF:
            return self._power_on_reset(system)
        return sushy.ResetType.FORCE_RESTART

    def set_boot_device(self, device: BootDevice, *, persistent: bool = False) -> None:
        device = BootDevice(device)
        system = self._connect()
        enabled = (
            sushy.BootSourceOverrideEnabled.CONTINUOUS
            if persistent
            else sushy.BootSourceOverrideEnabled.ONCE
        )
        what = f"setting the boot device to {device}" + (" (persistent)" if persistent else "")
        with self._asking(what):
            system.refresh(force=True)
            system.set_system_boot_options(target=_REDFISH_BOOT_TARGETS[device], enabled=enabled)

    def inventory(self) -> dict[str, Any]:
        system = self._connect()
        with self._asking("reading the inventory"):
            system.refresh(force=True)
            return read_inventory(system)


# --- IPMI ------------------------------------------------------------------------------------

_IPMI_COMMANDS = {
    PowerAction.ON: "on",
    PowerAction.OFF: "off",
    PowerAction.SOFT_OFF: "soft",
    PowerAction.RESET: "reset",
}
_IPMI_POWER = re.compile(r"Chassis Power is (on|off)", re.IGNORECASE)


def ipmitool_retries(timeout: float) -> int:
    """How many retries (-R, each waiting -N 1 s) fit in the timeout.

    Against a silent address ipmitool's lanplus session setup waits 1 s, 2 s, ... per retry in
    each of its two handshake steps: about R*(R+1) seconds in all (R=4, its default, is 20 s).
    Take the most retries that fit in 80% of the timeout so that ipmitool reports its own error
    before it has to be killed.
    """
    retries = 1
    while (retries + 1) * (retries + 2) <= 0.8 * timeout:
        retries += 1
    return retries


# Lines ``-v`` adds that say nothing about a failure.
IPMI_VERBOSE_NOISE = ("Loading IANA PEN Registry", "Using best available cipher suite")


class IpmiDriver:
    def __init__(self, access: BmcAccess, *, timeout: float = 30.0) -> None:
        self.access = access
        self.timeout = timeout
        self.port = access.port or IPMI_DEFAULT_PORT
        self.label = f"IPMI BMC {access.address}:{self.port}"

    def command(self, *args: str) -> list[str]:
        """The ipmitool argv. The password is not in it: ``-E`` reads it from IPMI_PASSWORD,
        because any local user can read another process's argv."""
        binary = shutil.which("ipmitool") or "ipmitool"
        return [
            binary,
            "-I",
            "lanplus",
            "-H",
            self.access.address,
            "-p",
            str(self.port),
            "-U",
            self.access.username,
            "-E",
            # Verbose: ipmitool then says on stderr why a session failed, which tells a BMC
            # that does not answer from one that refuses the credentials (see _ipmi_reason).
            "-v",
            "-N",
            "1",
            "-R",
            str(ipmitool_retries(self.timeout)),
            *args,
        ]

    def run(self, what: str, *args: str) -> str:
        """Runs one ipmitool command (``what`` names it in errors) and returns its output."""
        if shutil.which("ipmitool") is None:
            why = "the ipmitool program is not installed (Debian/Ubuntu: apt-get install ipmitool)"
            raise _fail(self.access, self.label, what, why)
        env = {**os.environ, "IPMI_PASSWORD": self.access.password}
        try:
            done = subprocess.run(
                self.command(*args),
                env=env,
                stdin=subprocess.DEVNULL,
                capture_output=True,
                text=True,
                timeout=self.timeout,
                check=False,
            )
        except subprocess.TimeoutExpired:
            why = f"no answer within {self.timeout:g} s"
            raise _fail(self.access, self.label, what, why) from None
        except OSError as exc:
            raise _fail(self.access, self.label, what, f"could not run ipmitool: {exc}") from None
        if done.returncode != 0:
            raise _fail(self.access, self.label, what, self._reason(done))
        return done.stdout

    def _reason(self, done: subprocess.CompletedProcess[str]) -> str:
        stderr = done.stderr
        if "Get Auth Capabilities error" in stderr or "Get Channel Authentication" in stderr:
            return f"the BMC did not answer (no IPMI reply within {self.timeout:g} s)"
        if "RAKP 2 HMAC is invalid" in stderr or "unauthorized name" in stderr.lower():
            return f"the BMC refused user {self.access.username!r} (wrong password?)"
        lines = [
            line.strip()
            for line in (stderr or done.stdout).splitlines()
            if line.strip() and not line.startswith(IPMI_VERBOSE_NOISE)
        ]
        return f"ipmitool exited with {done.returncode}: {'; '.join(lines) or 'no message'}"

    def power_state(self) -> str:
        output = self.run("reading the power state", "chassis", "power", "status")
        found = _IPMI_POWER.search(output)
        return found.group(1).lower() if found else "unknown"

    def power(self, action: PowerAction) -> None:
        action = PowerAction(action)
        if action is PowerAction.CYCLE:
            # The IPMI spec recommends refusing a cycle while the power is off (completion code
            # D5h) and many BMCs do: as with Redfish, an off machine is powered on instead.
            command = "cycle" if self.power_state() == "on" else "on"
        else:
            command = _IPMI_COMMANDS[action]
        self.run(f"power {action}", "chassis", "power", command)

    def set_boot_device(self, device: BootDevice, *, persistent: bool = False) -> None:
        device = BootDevice(device)
        args = ["chassis", "bootdev", str(device)]
        if persistent:
            args.append("options=persistent")
        what = f"setting the boot device to {device}" + (" (persistent)" if persistent else "")
        self.run(what, *args)

    def inventory(self) -> dict[str, Any]:
        # IPMI's FRU data is vendor-shaped and partial; Tinkerbell's collector refuses IPMI too.
        raise PowerError(
            f"{self.label}: reading the inventory failed: IPMI BMCs do not report one "
            "(use the BMC's Redfish interface)"
        )

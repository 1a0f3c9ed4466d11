"""BMC emulators on loopback: sushy-emulator (Redfish, fake driver) and tests/power/ipmi_bmc.py.

Each xdist worker starts its own emulators on free ports, with their own state directory (the
Redfish fake driver otherwise keeps its systems in one sqlite file under /tmp shared by every
emulator on the machine).
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import bcrypt
import pytest
import requests

from inventory.power.drivers import BmcAccess
from tests.tools import require_tool, stop_process

USERNAME = "admin"
# Distinctive, so that a search for it in messages and argv cannot match anything by chance.
PASSWORD = "Pw-7f3a9c-secret"
WRONG_PASSWORD = "Pw-0d41b2-wrong"
HOST = "127.0.0.1"
IPMI_BMC_SCRIPT = Path(__file__).with_name("ipmi_bmc.py")
START_ATTEMPTS = 3
START_DEADLINE = 20.0


def free_port(kind: socket.SocketKind = socket.SOCK_STREAM) -> int:
    """A port the kernel just handed out; another process could take it before us, so the
    starters below retry on a new port when the server dies at start."""
    with socket.socket(socket.AF_INET, kind) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


def sushy_emulator_binary() -> str | None:
    beside_python = Path(sys.executable).with_name("sushy-emulator")
    return str(beside_python) if beside_python.exists() else shutil.which("sushy-emulator")


@dataclass
class RedfishEmulator:
    url: str
    state_dir: Path
    process: subprocess.Popen[bytes]
    systems: dict[str, str] = field(default_factory=dict)  # id -> initial power state
    _handed_out: set[str] = field(default_factory=set)

    def access(self, system_id: str = "", password: str = PASSWORD) -> BmcAccess:
        return BmcAccess(
            protocol="redfish",
            address=self.url,
            port=None,
            username=USERNAME,
            password=password,
            redfish_system_id=system_id,
        )

    def fresh_system(self, power_state: str) -> BmcAccess:
        """A system no test has touched yet, that starts "On" or "Off": tests need not wait
        for a power change to set up, and a change still pending from another test (the fake
        driver applies them 1-11 s late) cannot land in the middle of this one."""
        for system_id, initial in self.systems.items():
            if initial == power_state and system_id not in self._handed_out:
                self._handed_out.add(system_id)
                return self.access(system_id)
        raise AssertionError(f"the emulator has no unused system that starts {power_state}")

    def get_system(self, system_id: str) -> dict[str, object]:
        response = requests.get(
            f"{self.url}/redfish/v1/Systems/{system_id}", auth=(USERNAME, PASSWORD), timeout=10
        )
        response.raise_for_status()
        document: dict[str, object] = response.json()
        return document


def start_redfish_emulator(workdir: Path, systems: dict[str, str]) -> RedfishEmulator:
    binary = sushy_emulator_binary()
    require_tool(binary is not None, "sushy-emulator (pip install -e '.[dev]')")
    assert binary is not None
    workdir.mkdir(parents=True, exist_ok=True)
    # bcrypt is the only digest the emulator accepts; few rounds keep each request fast.
    digest = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(rounds=4)).decode()
    (workdir / "htpasswd").write_text(f"{USERNAME}:{digest}\n")
    fake_systems = [
        {
            "uuid": system_id,
            "name": f"node-{index}",
            "power_state": power_state,
            "external_notifier": False,
            "nics": [{"mac": f"52:54:00:00:00:{index:02x}", "ip": f"192.0.2.{index + 10}"}],
        }
        for index, (system_id, power_state) in enumerate(systems.items())
    ]
    (workdir / "emulator.conf").write_text(
        f"SUSHY_EMULATOR_STATE_DIR = {str(workdir / 'state')!r}\n"
        f"SUSHY_EMULATOR_AUTH_FILE = {str(workdir / 'htpasswd')!r}\n"
        f"SUSHY_EMULATOR_FAKE_SYSTEMS = {fake_systems!r}\n"
    )
    for _attempt in range(START_ATTEMPTS):
        port = free_port()
        command = [binary, "--fake", "-i", HOST, "-p", str(port)]
        command += ["--config", str(workdir / "emulator.conf")]
        with (workdir / "emulator.log").open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        url = f"http://{HOST}:{port}"
        if _wait_for_http(f"{url}/redfish/v1/", process):
            return RedfishEmulator(url, workdir / "state", process, dict(systems))
        stop_process(process, grace=5)
    log_text = (workdir / "emulator.log").read_text(errors="replace")[-2000:]
    raise RuntimeError(f"sushy-emulator did not start:\n{log_text}")


def _wait_for_http(url: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if requests.get(url, timeout=2).ok:
                return True
        except requests.RequestException:
            pass
        time.sleep(0.1)
    return False


@pytest.fixture(scope="session")
def redfish_bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BmcAccess]:
    """A Redfish BMC with one system (off), reached without a system id."""
    emulator = start_redfish_emulator(
        tmp_path_factory.mktemp("redfish-one"), {str(uuid.uuid4()): "Off"}
    )
    try:
        yield emulator.access()
    finally:
        stop_process(emulator.process, grace=5)


@pytest.fixture(scope="session")
def redfish_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedfishEmulator]:
    """A Redfish BMC with many systems, half on and half off, handed out one per test."""
    systems = {str(uuid.uuid4()): state for state in ("On", "Off") for _ in range(8)}
    emulator = start_redfish_emulator(tmp_path_factory.mktemp("redfish-lab"), systems)
    try:
        yield emulator
    finally:
        stop_process(emulator.process, grace=5)


@pytest.fixture(scope="session")
def ipmi_bmc(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BmcAccess]:
    """The in-memory IPMI BMC (tests/power/ipmi_bmc.py) on a free UDP port; power off."""
    require_tool(shutil.which("ipmitool") is not None, "ipmitool (Debian package ipmitool)")
    workdir = tmp_path_factory.mktemp("ipmi")
    log_path = workdir / "bmc.log"
    for _attempt in range(START_ATTEMPTS):
        port = free_port(socket.SOCK_DGRAM)
        command = [sys.executable, str(IPMI_BMC_SCRIPT), "--port", str(port), "--address", HOST]
        command += ["--user", USERNAME, "--password", PASSWORD]
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        # The script prints its "listening" line once the UDP socket is bound.
        if _wait_for_line(log_path, f"listening on {HOST}:{port}", process):
            break
        stop_process(process, grace=5)
    else:
        raise RuntimeError(f"the IPMI BMC did not start:\n{log_path.read_text()[-2000:]}")
    try:
        yield BmcAccess(
            protocol="ipmi", address=HOST, port=port, username=USERNAME, password=PASSWORD
        )
    finally:
        stop_process(process, grace=5)


def _wait_for_line(path: Path, line: str, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + START_DEADLINE
    while time.monotonic() < deadline and process.poll() is None:
        if line in path.read_text(errors="replace"):
            return True
        time.sleep(0.05)
    return False


@dataclass
class IpmiEmulator:
    """A running tests/power/ipmi_bmc.py: its access and its process (to kill it in a test)."""

    access: BmcAccess
    process: subprocess.Popen[bytes]
    log_path: Path


def start_ipmi_bmc(workdir: Path) -> IpmiEmulator:
    """Starts tests/power/ipmi_bmc.py on a free UDP port (power off); the caller stops it."""
    require_tool(shutil.which("ipmitool") is not None, "ipmitool (Debian package ipmitool)")
    workdir.mkdir(parents=True, exist_ok=True)
    log_path = workdir / "bmc.log"
    for _attempt in range(START_ATTEMPTS):
        port = free_port(socket.SOCK_DGRAM)
        command = [sys.executable, str(IPMI_BMC_SCRIPT), "--port", str(port), "--address", HOST]
        command += ["--user", USERNAME, "--password", PASSWORD]
        with log_path.open("ab") as log:
            process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)
        if _wait_for_line(log_path, f"listening on {HOST}:{port}", process):
            access = BmcAccess(
                protocol="ipmi", address=HOST, port=port, username=USERNAME, password=PASSWORD
            )
            return IpmiEmulator(access, process, log_path)
        stop_process(process, grace=5)
    raise RuntimeError(f"the IPMI BMC did not start:\n{log_path.read_text()[-2000:]}")


@pytest.fixture
def own_ipmi_bmc(tmp_path: Path) -> Iterator[IpmiEmulator]:
    """An IPMI BMC for this test alone, so that the test may kill it."""
    emulator = start_ipmi_bmc(tmp_path / "ipmi")
    try:
        yield emulator
    finally:
        stop_process(emulator.process, grace=5)


@pytest.fixture
def own_redfish_bmc(tmp_path: Path) -> Iterator[RedfishEmulator]:
    """A Redfish emulator with one system (off) for this test alone, so that it may kill it."""
    emulator = start_redfish_emulator(tmp_path / "redfish", {str(uuid.uuid4()): "Off"})
    try:
        yield emulator
    finally:
        stop_process(emulator.process, grace=5)

"""Power drivers against real emulators: sushy-emulator for Redfish, ipmi_bmc.py for IPMI."""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import time
from typing import Any

import pytest
import sushy

from inventory.power import drivers
from inventory.power.drivers import (
    BmcAccess,
    BootDevice,
    IpmiDriver,
    PowerAction,
    PowerDriver,
    PowerError,
    RedfishDriver,
    driver_for,
    ipmitool_retries,
    redfish_base_url,
)
from tests.power.conftest import HOST, PASSWORD, WRONG_PASSWORD, RedfishEmulator, free_port

# The fake Redfish driver applies a power change 1 to 11 s after it was asked.
POWER_DEADLINE = 20.0


def wait_for_power(driver: PowerDriver, expected: str, deadline: float = POWER_DEADLINE) -> None:
    seen = []
    stop_at = time.monotonic() + deadline
    while time.monotonic() < stop_at:
        seen.append(driver.power_state())
        if seen[-1] == expected:
            return
        time.sleep(0.25)
    pytest.fail(f"power never became {expected!r} within {deadline} s; last seen {seen[-3:]}")


def assert_clean(error: PowerError, *, names: str) -> None:
    message = str(error)
    assert names in message
    assert PASSWORD not in message
    assert WRONG_PASSWORD not in message


@pytest.fixture
def ipmitool_calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every ipmitool invocation (argv and environment), still run for real."""
    calls: list[dict[str, Any]] = []
    real_run = subprocess.run

    def spy(args: list[str], **kwargs: Any) -> Any:
        calls.append({"args": list(args), "env": kwargs.get("env") or {}})
        return real_run(args, **kwargs)

    monkeypatch.setattr(drivers.subprocess, "run", spy)
    return calls


@pytest.fixture
def redfish_resets(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The reset types sent to Redfish systems, still sent for real."""
    sent: list[str] = []
    system_class = sushy.resources.system.system.System
    real_reset = system_class.reset_system

    def spy(self: Any, value: Any) -> None:
        sent.append(sushy.ResetType(value).value)
        real_reset(self, value)

    monkeypatch.setattr(system_class, "reset_system", spy)
    return sent


# --- plain functions ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("address", "port", "expected"),
    [
        ("10.0.0.5", None, "https://10.0.0.5/redfish/v1"),
        ("10.0.0.5", 8443, "https://10.0.0.5:8443/redfish/v1"),
        ("bmc.example.net", 443, "https://bmc.example.net/redfish/v1"),
        ("fd00::5", None, "https://[fd00::5]/redfish/v1"),
        ("http://127.0.0.1:8000", None, "http://127.0.0.1:8000/redfish/v1"),
        ("http://127.0.0.1", 8000, "http://127.0.0.1:8000/redfish/v1"),
        ("http://127.0.0.1:8000", 9000, "http://127.0.0.1:8000/redfish/v1"),
        ("https://bmc/redfish/v1/", None, "https://bmc/redfish/v1"),
    ],
)
def test_redfish_base_url(address: str, port: int | None, expected: str) -> None:
    access = BmcAccess("redfish", address, port, "admin", PASSWORD)
    assert redfish_base_url(access) == expected


def test_ipmitool_retries_fit_in_the_timeout() -> None:
    assert ipmitool_retries(1) == 1
    assert ipmitool_retries(5) == 1
    assert ipmitool_retries(30) == 4
    for timeout in (3, 8, 15, 30, 60):
        retries = ipmitool_retries(timeout)
        assert retries == 1 or retries * (retries + 1) <= 0.8 * timeout


def test_driver_for_picks_by_protocol() -> None:
    assert isinstance(driver_for(BmcAccess("Redfish", "bmc", None, "a", "b")), RedfishDriver)
    assert isinstance(driver_for(BmcAccess("ipmi", "bmc", None, "a", "b")), IpmiDriver)
    with pytest.raises(PowerError, match="unknown protocol 'snmp'"):
        driver_for(BmcAccess("snmp", "bmc", None, "a", "b"))


def test_access_repr_hides_the_password() -> None:
    assert PASSWORD not in repr(BmcAccess("ipmi", "bmc", None, "admin", PASSWORD))


# --- Redfish -----------------------------------------------------------------------------------


def test_redfish_status_of_the_only_system(redfish_bmc: BmcAccess) -> None:
    assert driver_for(redfish_bmc).power_state() == "off"


def test_redfish_boot_device(redfish_lab: RedfishEmulator) -> None:
    access = redfish_lab.fresh_system("Off")
    driver = driver_for(access)
    driver.set_boot_device(BootDevice.PXE)
    boot = redfish_lab.get_system(access.redfish_system_id)["Boot"]
    assert isinstance(boot, dict)
    assert boot["BootSourceOverrideTarget"] == "Pxe"
    # The emulator records Once as Continuous, so only the persistent setting is checked.
    driver.set_boot_device(BootDevice.DISK, persistent=True)
    boot = redfish_lab.get_system(access.redfish_system_id)["Boot"]
    assert isinstance(boot, dict)
    assert boot["BootSourceOverrideTarget"] == "Hdd"
    assert boot["BootSourceOverrideEnabled"] == "Continuous"


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("start", "action", "sent", "end"),
    [
        ("On", PowerAction.OFF, "ForceOff", "off"),
        ("Off", PowerAction.ON, "On", "on"),
        ("On", PowerAction.SOFT_OFF, "GracefulShutdown", "off"),
        ("On", PowerAction.RESET, "ForceRestart", "on"),
        ("On", PowerAction.CYCLE, "ForceRestart", "on"),
        ("Off", PowerAction.CYCLE, "On", "on"),
    ],
)
def test_redfish_power(
    redfish_lab: RedfishEmulator,
    redfish_resets: list[str],
    start: str,
    action: PowerAction,
    sent: str,
    end: str,
) -> None:
    driver = driver_for(redfish_lab.fresh_system(start))
    assert driver.power_state() == start.lower()
    driver.power(action)
    assert redfish_resets == [sent]
    wait_for_power(driver, end)


def test_redfish_wrong_password(redfish_bmc: BmcAccess) -> None:
    access = dataclasses.replace(redfish_bmc, password=WRONG_PASSWORD)
    with pytest.raises(PowerError, match=r"refused user 'admin'.*401") as caught:
        driver_for(access).power_state()
    assert_clean(caught.value, names=redfish_bmc.address)


def test_redfish_unknown_system_names_the_systems(redfish_lab: RedfishEmulator) -> None:
    with pytest.raises(PowerError, match="no system 'nope'") as caught:
        driver_for(redfish_lab.access("nope")).power_state()
    assert_clean(caught.value, names=next(iter(redfish_lab.systems)))


def test_redfish_several_systems_need_an_id(redfish_lab: RedfishEmulator) -> None:
    with pytest.raises(PowerError, match=r"has 16 systems.*set the Redfish system id") as caught:
        driver_for(redfish_lab.access()).power_state()
    for system_id in redfish_lab.systems:
        assert system_id in str(caught.value)


def test_redfish_system_id_may_be_a_path(redfish_lab: RedfishEmulator) -> None:
    system_id = next(iter(redfish_lab.systems))
    access = redfish_lab.access(f"/redfish/v1/Systems/{system_id}")
    assert driver_for(access).power_state() in {"on", "off"}


def test_redfish_unreachable_fails_within_the_timeout() -> None:
    access = BmcAccess("redfish", f"http://{HOST}:{free_port()}", None, "admin", PASSWORD)
    started = time.monotonic()
    with pytest.raises(PowerError, match=r"could not connect.*Connection refused") as caught:
        driver_for(access, timeout=5).power(PowerAction.ON)
    assert time.monotonic() - started < 5
    assert_clean(caught.value, names=access.address)


def test_redfish_silent_bmc_fails_within_the_timeout() -> None:
    # Accepts the connection (the kernel does, from the backlog) but never answers.
    with socket.socket() as silent:
        silent.bind((HOST, 0))
        silent.listen(4)
        address = f"http://{HOST}:{silent.getsockname()[1]}"
        access = BmcAccess("redfish", address, None, "admin", PASSWORD)
        started = time.monotonic()
        with pytest.raises(PowerError, match="could not connect: Read timed out") as caught:
            driver_for(access, timeout=1).power_state()
        assert time.monotonic() - started < 3
    assert_clean(caught.value, names=address)


# --- IPMI --------------------------------------------------------------------------------------


def test_ipmi_status_on_and_off(ipmi_bmc: BmcAccess) -> None:
    driver = driver_for(ipmi_bmc)
    driver.power(PowerAction.ON)
    assert driver.power_state() == "on"
    driver.power(PowerAction.OFF)
    assert driver.power_state() == "off"


@pytest.mark.parametrize(
    ("start", "action", "sent", "end"),
    [
        ("on", PowerAction.OFF, "off", "off"),
        ("off", PowerAction.ON, "on", "on"),
        ("on", PowerAction.SOFT_OFF, "soft", "off"),
        ("on", PowerAction.RESET, "reset", "on"),
        ("on", PowerAction.CYCLE, "cycle", "on"),
        # The BMC refuses a cycle while off, as the IPMI spec recommends: it is powered on.
        ("off", PowerAction.CYCLE, "on", "on"),
    ],
)
def test_ipmi_power(
    ipmi_bmc: BmcAccess,
    ipmitool_calls: list[dict[str, Any]],
    start: str,
    action: PowerAction,
    sent: str,
    end: str,
) -> None:
    driver = driver_for(ipmi_bmc)
    driver.power(PowerAction(start))
    ipmitool_calls.clear()
    driver.power(action)
    commands = [call["args"][-3:] for call in ipmitool_calls]
    assert commands[-1] == ["chassis", "power", sent]
    wait_for_power(driver, end)


def test_ipmi_boot_device(ipmi_bmc: BmcAccess) -> None:
    driver = driver_for(ipmi_bmc)

    def read_flags() -> str:
        # Parameter 5 of the boot options: the boot flags, as the BMC now holds them.
        return IpmiDriver(ipmi_bmc).run("reading boot flags", "chassis", "bootparam", "get", "5")

    driver.set_boot_device(BootDevice.PXE)
    flags = read_flags()
    assert "Force PXE" in flags
    assert "only next boot" in flags
    driver.set_boot_device(BootDevice.DISK, persistent=True)
    flags = read_flags()
    assert "Force Boot from default Hard-Drive" in flags
    assert "all future boots" in flags


def test_ipmi_password_stays_out_of_argv(
    ipmi_bmc: BmcAccess, ipmitool_calls: list[dict[str, Any]]
) -> None:
    driver = driver_for(ipmi_bmc)
    driver.power_state()
    driver.set_boot_device(BootDevice.PXE, persistent=True)
    assert len(ipmitool_calls) == 2
    for call in ipmitool_calls:
        assert PASSWORD not in " ".join(call["args"])
        assert "-E" in call["args"]
        assert call["env"]["IPMI_PASSWORD"] == PASSWORD


def test_ipmi_wrong_password(ipmi_bmc: BmcAccess) -> None:
    access = dataclasses.replace(ipmi_bmc, password=WRONG_PASSWORD)
    with pytest.raises(PowerError, match="the BMC refused user 'admin'") as caught:
        driver_for(access, timeout=10).power_state()
    assert_clean(caught.value, names=f"IPMI BMC {HOST}:{ipmi_bmc.port}")


def test_ipmi_refused_command_carries_the_bmc_message(ipmi_bmc: BmcAccess) -> None:
    driver = IpmiDriver(ipmi_bmc)
    driver.power(PowerAction.OFF)
    # Bypasses the driver's own "cycle while off" handling to see the BMC refuse.
    with pytest.raises(PowerError, match="not supported in present state") as caught:
        driver.run("power cycle", "chassis", "power", "cycle")
    assert_clean(caught.value, names=f"IPMI BMC {HOST}:{ipmi_bmc.port}")


def test_ipmi_unreachable_fails_within_the_timeout() -> None:
    access = BmcAccess("ipmi", HOST, free_port(socket.SOCK_DGRAM), "admin", PASSWORD)
    started = time.monotonic()
    with pytest.raises(PowerError, match="the BMC did not answer") as caught:
        driver_for(access, timeout=5).power_state()
    assert time.monotonic() - started < 5
    assert_clean(caught.value, names=f"IPMI BMC {HOST}:{access.port}")


def test_ipmi_timeout_kills_ipmitool() -> None:
    access = BmcAccess("ipmi", HOST, free_port(socket.SOCK_DGRAM), "admin", PASSWORD)
    started = time.monotonic()
    with pytest.raises(PowerError, match="no answer within 1 s") as caught:
        driver_for(access, timeout=1).power(PowerAction.OFF)
    assert time.monotonic() - started < 3
    assert_clean(caught.value, names=f"IPMI BMC {HOST}:{access.port}")


def test_ipmi_without_ipmitool(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(drivers.shutil, "which", lambda name: None)
    access = BmcAccess("ipmi", HOST, 623, "admin", PASSWORD)
    with pytest.raises(PowerError, match="ipmitool program is not installed") as caught:
        driver_for(access).power_state()
    assert_clean(caught.value, names=f"IPMI BMC {HOST}:623")

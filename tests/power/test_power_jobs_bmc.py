"""Power jobs end to end: service → task function → driver → a real BMC emulator (sushy's
Redfish emulator, an IPMI BMC answering ipmitool) → the state recorded on the machine."""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import pytest

from inventory.models import BMC, Machine, PowerJob
from inventory.power import services
from inventory.power.drivers import BmcAccess
from rackpilot.core.actors import Actor
from tests.factories import BMCFactory, MachineFactory
from tests.power.conftest import RedfishEmulator

pytestmark = pytest.mark.django_db
OPERATOR = Actor.system("tests")


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    # The test runs each job itself, through the same function the Celery task calls.
    monkeypatch.setattr(services, "enqueue_power_job", lambda job_id: None)


def machine_behind(access: BmcAccess, hostname: str) -> Machine:
    machine = MachineFactory(hostname=hostname)
    BMCFactory(
        machine=machine,
        protocol=access.protocol,
        address=access.address,
        port=access.port,
        username=access.username,
        password=access.password,
        verify_tls=access.verify_tls,
        redfish_system_id=access.redfish_system_id,
    )
    return machine


def run(machine: Machine, action: str, **values: Any) -> PowerJob:
    job = services.power_job_request(machine=machine, action=action, actor=OPERATOR, **values)
    finished = services.power_job_run(job_id=job.pk)
    assert finished is not None
    assert finished.state == "success", finished.error
    return finished


def poll_until(machine: Machine, expected: str, seconds: float = 20) -> None:
    bmc = BMC.objects.get(machine=machine)
    deadline = time.monotonic() + seconds
    while services.bmc_poll(bmc_id=bmc.pk) != expected:
        assert time.monotonic() < deadline, f"the BMC never reported {expected}"
        time.sleep(0.5)


@pytest.mark.e2e
def test_redfish_power_cycle_into_pxe(redfish_lab: RedfishEmulator) -> None:
    access = redfish_lab.fresh_system("Off")
    machine = machine_behind(access, "rf-01")

    job = run(machine, "cycle", boot_device="pxe")

    boot = redfish_lab.get_system(access.redfish_system_id)["Boot"]
    assert isinstance(boot, dict)
    assert boot["BootSourceOverrideTarget"] == "Pxe"
    assert job.power_state == "on"
    # The emulator turns it on a few seconds later; the poll sees it.
    poll_until(machine, "on")
    assert BMC.objects.get(machine=machine).power_state == "on"


def test_ipmi_power_on_off_and_status(ipmi_bmc: BmcAccess) -> None:
    machine = machine_behind(ipmi_bmc, "ipmi-01")
    run(machine, "on")
    assert run(machine, "status").power_state == "on"
    run(machine, "off", boot_device="disk", persistent=True)
    assert run(machine, "status").power_state == "off"
    assert BMC.objects.get(machine=machine).power_state == "off"


def test_a_wrong_password_fails_the_job_with_the_bmcs_answer(ipmi_bmc: BmcAccess) -> None:
    machine = machine_behind(replace(ipmi_bmc, password="not-the-password"), "ipmi-02")
    job = services.power_job_request(machine=machine, action="on", actor=OPERATOR)
    finished = services.power_job_run(job_id=job.pk)
    assert finished is not None
    assert finished.state == "failed"
    assert "ipmi" in finished.error.lower()
    assert "not-the-password" not in finished.error
    # An unreachable or refusing BMC shows as unknown after a poll, not as its last answer.
    assert services.bmc_poll(bmc_id=BMC.objects.get(machine=machine).pk) == "unknown"

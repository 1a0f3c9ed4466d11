"""The BMC's inventory: a "Read inventory" job against sushy's Redfish emulator, kept on the BMC,
shown on the machine page and in the API, and given to templates as Tinkerbell gives it
(``.hardware.status.attributes.outOfBand``), next to the agent's report (``inBand``)."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.exceptions import ValidationError

from inventory.models import BMC, Machine
from inventory.power import services
from inventory.power.drivers import BmcAccess
from inventory.services import machine_mark_seen
from rackpilot.core.models import Event
from tests.power.test_power_jobs_bmc import OPERATOR, machine_behind, run
from tinkerbell.template_data import template_data_for_machine
from workflows.gotemplate import render

pytestmark = pytest.mark.django_db

AGENT_REPORT: dict[str, Any] = {
    "cpu": {"cores": 8, "threads": 16, "sockets": 1, "model": "EPYC 7302P", "vendor": "AMD"},
    "memory_bytes": 68719476736,
    "disks": [{"name": "sda", "device": "/dev/sda", "size_bytes": 480103981056, "serial": "S1"}],
    "nics": [{"name": "eno1", "mac": "52:54:00:00:00:00", "speed_mbps": 10000}],
    "dmi": {"sys_vendor": "Supermicro", "product_name": "AS-1014S", "bios_version": "2.3"},
}


@pytest.fixture(autouse=True)
def no_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(services, "enqueue_power_job", lambda job_id: None)


def test_a_read_inventory_job_keeps_what_the_bmc_reports(redfish_bmc: BmcAccess) -> None:
    machine = machine_behind(redfish_bmc, "inv-01")

    job = run(machine, "inventory")

    bmc = BMC.objects.get(machine=machine)
    assert job.power_state == "off"  # read as well, so the card is current
    assert bmc.inventory["agent"] == "redfish"
    assert bmc.inventory["dmi"]["sys_vendor"] == "Sushy Emulator"
    assert bmc.inventory["nics"] == [
        {"name": bmc.inventory["nics"][0]["name"], "mac": "52:54:00:00:00:00", "physical": True}
    ]
    assert bmc.inventory_at is not None
    assert Event.objects.filter(verb="bmc.inventory_read", machine=machine).count() == 1
    run(machine, "inventory")  # the same answer again: no second event
    assert Event.objects.filter(verb="bmc.inventory_read", machine=machine).count() == 1


def test_templates_read_both_subtrees_as_tinkerbell_writes_them(redfish_bmc: BmcAccess) -> None:
    machine = machine_behind(redfish_bmc, "inv-02")
    run(machine, "inventory")
    machine_mark_seen(machine=machine, hardware=AGENT_REPORT)
    machine = Machine.objects.select_related("bmc").get(pk=machine.pk)
    data = template_data_for_machine(machine, {"device_1": "52:54:00:00:00:00"})

    text = render(
        "{{ .hardware.status.attributes.outOfBand.product.vendor }}|"
        "{{ .hardware.status.attributes.outOfBand.collectionMethod }}|"
        "{{ (index .hardware.status.attributes.outOfBand.networkInterfaces 0).ports }}|"
        "{{ .hardware.status.attributes.inBand.cpu.totalCores }}|"
        "{{ .hardware.status.attributes.inBand.memory.totalBytes }}|"
        "{{ (index .hardware.status.attributes.inBand.blockDevices 0).serialNumber }}|"
        "{{ .hardware.status.attributes.inBand.bios.firmwareVersion }}",
        data,
    )

    assert text.split("|") == [
        "Sushy Emulator",
        "redfish",
        "[map[mac:52:54:00:00:00:00 portID:" + machine.bmc.inventory["nics"][0]["name"] + "]]",
        "8",
        "68719476736",
        "S1",
        "2.3",
    ]


def test_the_inventory_shows_on_the_machine_page_and_in_the_api(
    redfish_bmc: BmcAccess, admin_client: Any
) -> None:
    machine = machine_behind(redfish_bmc, "inv-03")
    page = admin_client.get(f"/machines/{machine.pk}/").content.decode()
    assert "Read inventory" in page and "Inventory read from the BMC" not in page

    run(machine, "inventory")

    page = admin_client.get(f"/machines/{machine.pk}/").content.decode()
    assert "Inventory read from the BMC" in page and "Sushy Emulator" in page
    (bmc,) = admin_client.get(f"/api/v1/bmcs/?machine_id={machine.pk}").json()["results"]
    assert bmc["inventory"]["dmi"]["sys_vendor"] == "Sushy Emulator"


def test_an_ipmi_bmc_is_refused_naming_why(ipmi_bmc: BmcAccess, admin_client: Any) -> None:
    machine = machine_behind(ipmi_bmc, "inv-04")

    with pytest.raises(ValidationError, match="speaks IPMI, which reports no inventory"):
        services.power_job_request(machine=machine, action="inventory", actor=OPERATOR)
    assert "Read inventory" not in admin_client.get(f"/machines/{machine.pk}/").content.decode()

"""Model and service validation: MACs, placement, hostnames, network fields, secrets."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from inventory import services
from inventory.fields import normalize_mac
from inventory.models import BMC, Machine, NetworkInterface
from rackpilot.core.models import Event
from tests.factories import (
    BMCFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    SiteFactory,
)

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "spelling",
    [
        "52:54:00:AB:CD:EF",
        "52-54-00-ab-cd-ef",
        "5254.00ab.cdef",
        "525400abcdef",
        " 52:54:0:ab:cd:ef ",
    ],
)
def test_mac_spellings_normalise_to_lower_colon_form(spelling):
    assert normalize_mac(spelling) == "52:54:00:ab:cd:ef"


@pytest.mark.parametrize("bad", ["", "52:54:00:ab:cd", "zz:54:00:ab:cd:ef", "52:54:00:ab:cd:ef:01"])
def test_malformed_mac_is_refused(bad):
    with pytest.raises(ValidationError):
        normalize_mac(bad)


def test_interface_create_stores_normalised_mac(actor):
    machine = MachineFactory()
    nic = services.interface_create(machine=machine, actor=actor, mac="52-54-00-AA-BB-CC")
    assert nic.mac == "52:54:00:aa:bb:cc"
    assert nic.is_boot, "the first interface of a machine becomes its boot interface"


def test_duplicate_mac_names_the_machine_holding_it(actor):
    NetworkInterfaceFactory(mac="52:54:00:00:00:01", machine__hostname="holder", name="eth0")
    other = MachineFactory()

    with pytest.raises(ValidationError) as excinfo:
        services.interface_create(machine=other, actor=actor, mac="52:54:00:00:00:01")

    message = excinfo.value.message_dict["mac"][0]
    assert "holder" in message and "52:54:00:00:00:01" in message
    assert other.interfaces.count() == 0


def test_one_boot_interface_per_machine(actor):
    machine = MachineFactory()
    first = services.interface_create(machine=machine, actor=actor, mac="52:54:00:00:00:0a")
    second = services.interface_create(
        machine=machine, actor=actor, mac="52:54:00:00:00:0b", is_boot=True
    )
    first.refresh_from_db()
    assert second.is_boot and not first.is_boot


@pytest.mark.parametrize(
    ("field", "value"),
    [("ip", "10.0.0.300"), ("netmask", "255.0.255.0"), ("gateway", "nope"), ("vlan_id", 5000)],
)
def test_bad_network_fields_are_named(actor, field, value):
    machine = MachineFactory()
    with pytest.raises(ValidationError) as excinfo:
        services.interface_create(
            machine=machine, actor=actor, mac="52:54:00:00:00:0c", **{field: value}
        )
    assert field in excinfo.value.message_dict
    assert not NetworkInterface.objects.exists()


def test_nameservers_must_be_ip_addresses(actor):
    with pytest.raises(ValidationError) as excinfo:
        services.interface_create(
            machine=MachineFactory(),
            actor=actor,
            mac="52:54:00:00:00:0d",
            nameservers=["1.1.1.1", "dns.example"],
        )
    assert "dns.example" in excinfo.value.message_dict["nameservers"][0]


@pytest.mark.parametrize("hostname", ["-bad", "under_score", "a" * 64, "spaces here", ""])
def test_bad_hostnames_are_refused(actor, hostname):
    with pytest.raises(ValidationError) as excinfo:
        services.machine_create(actor=actor, hostname=hostname)
    assert "hostname" in excinfo.value.message_dict


def test_duplicate_hostname_is_refused_clearly(actor):
    MachineFactory(hostname="web-01")
    with pytest.raises(ValidationError) as excinfo:
        services.machine_create(actor=actor, hostname="web-01")
    assert excinfo.value.message_dict["hostname"] == [
        "A machine with this hostname already exists."
    ]


class TestRackPlacement:
    def test_machine_fits_and_records_an_event(self, actor):
        rack = RackFactory(u_height=42)
        machine = services.machine_create(
            actor=actor, hostname="db-01", rack=rack, position=41, u_height=2
        )
        assert machine.top_unit == 42
        assert Event.objects.filter(verb="machine.created", machine=machine).exists()

    def test_sticking_out_of_the_top_is_refused(self, actor):
        rack = RackFactory(u_height=42, name="R1")
        with pytest.raises(ValidationError) as excinfo:
            services.machine_create(
                actor=actor, hostname="db-02", rack=rack, position=42, u_height=2
            )
        assert "above the top of rack R1" in excinfo.value.message_dict["position"][0]
        assert not Machine.objects.exists()

    def test_overlap_names_the_other_machine(self, actor):
        rack = RackFactory()
        MachineFactory(hostname="occupant", rack=rack, position=10, u_height=2)
        with pytest.raises(ValidationError) as excinfo:
            services.machine_create(actor=actor, hostname="late", rack=rack, position=11)
        message = excinfo.value.message_dict["position"][0]
        assert "occupant" in message and "U10-U11" in message

    def test_adjacent_units_do_not_overlap(self, actor):
        rack = RackFactory()
        MachineFactory(rack=rack, position=10, u_height=2)
        services.machine_create(actor=actor, hostname="above", rack=rack, position=12)
        services.machine_create(actor=actor, hostname="below", rack=rack, position=9)

    def test_half_depth_machines_share_a_unit_on_opposite_faces(self, actor):
        rack = RackFactory()
        MachineFactory(rack=rack, position=5, full_depth=False, face="front")
        services.machine_create(
            actor=actor, hostname="rear", rack=rack, position=5, full_depth=False, face="rear"
        )
        with pytest.raises(ValidationError):
            services.machine_create(actor=actor, hostname="full", rack=rack, position=5)

    def test_position_needs_a_rack(self, actor):
        with pytest.raises(ValidationError) as excinfo:
            services.machine_create(actor=actor, hostname="floating", position=3)
        assert "position" in excinfo.value.message_dict

    def test_moving_onto_another_machine_is_refused(self, actor):
        rack = RackFactory()
        MachineFactory(hostname="a", rack=rack, position=1)
        b = MachineFactory(hostname="b", rack=rack, position=3)
        with pytest.raises(ValidationError):
            services.machine_update(machine=b, actor=actor, position=1)
        b.refresh_from_db()
        assert b.position == 3

    def test_shrinking_a_rack_below_its_machines_is_refused(self, actor):
        rack = RackFactory(u_height=42)
        MachineFactory(hostname="top", rack=rack, position=40, u_height=2)
        with pytest.raises(ValidationError) as excinfo:
            services.rack_update(rack=rack, actor=actor, u_height=24)
        assert "top (U40-U41)" in excinfo.value.message_dict["u_height"][0]

    def test_deleting_a_rack_with_machines_is_refused(self, actor):
        rack = RackFactory()
        MachineFactory(hostname="resident", rack=rack, position=1)
        with pytest.raises(ValidationError) as excinfo:
            services.rack_delete(rack=rack, actor=actor)
        assert "resident" in str(excinfo.value)
        assert rack.__class__.objects.filter(pk=rack.pk).exists()


def test_rack_name_is_unique_per_site(actor):
    site = SiteFactory()
    services.rack_create(actor=actor, site=site, name="A1")
    services.rack_create(actor=actor, site=SiteFactory(), name="A1")
    with pytest.raises(ValidationError):
        services.rack_create(actor=actor, site=site, name="A1")


class TestBMCSecrets:
    def test_password_is_encrypted_at_rest(self, actor):
        machine = MachineFactory()
        bmc = services.bmc_create(
            machine=machine,
            actor=actor,
            password="s3cret-pass",
            address="10.9.9.9",
            username="root",
        )
        stored = BMC.objects.values_list("password_encrypted", flat=True).get(pk=bmc.pk)
        assert "s3cret-pass" not in stored
        assert bmc.get_password() == "s3cret-pass"

    def test_password_never_appears_in_events(self, actor):
        bmc = BMCFactory(password="first")
        services.bmc_update(bmc=bmc, actor=actor, password="second-secret", username="ops")
        for event in Event.objects.all():
            assert "second-secret" not in str(event.changes)
            assert "password_encrypted" not in event.changes
        assert Event.objects.filter(verb="bmc.password_changed").count() == 1

    def test_a_machine_has_at_most_one_bmc(self, actor):
        bmc = BMCFactory()
        with pytest.raises(ValidationError):
            services.bmc_create(machine=bmc.machine, actor=actor, address="10.1.1.1")

    def test_default_port_follows_protocol(self):
        assert BMCFactory(protocol="ipmi", port=None).effective_port == 623
        assert BMCFactory(protocol="redfish", port=None).effective_port == 443


def test_update_records_only_what_changed(actor):
    machine = MachineFactory(description="old")
    services.machine_update(machine=machine, actor=actor, description="new", arch="x86_64")
    event = Event.objects.get(verb="machine.updated", machine=machine)
    assert event.changes == {"description": ["old", "new"]}
    assert event.actor_name == "tests"


def test_unchanged_update_records_nothing(actor):
    machine = MachineFactory(description="same")
    services.machine_update(machine=machine, actor=actor, description="same")
    assert not Event.objects.filter(verb="machine.updated").exists()


def test_machine_mid_provisioning_cannot_be_deleted(actor):
    machine = MachineFactory(state=Machine.State.PROVISIONING)
    with pytest.raises(ValidationError):
        services.machine_delete(machine=machine, actor=actor)
    assert Machine.objects.filter(pk=machine.pk).exists()

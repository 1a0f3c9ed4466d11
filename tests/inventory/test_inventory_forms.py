"""The inventory's forms in the dashboard: sites, racks, machines and their interfaces, disks
and BMC created and edited through the services, refusals on their fields, the roles' rights,
and the site page with its racks side by side."""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site
from rackpilot.core.models import Event
from tests.factories import (
    BMCFactory,
    DiskFactory,
    MachineFactory,
    NetworkInterfaceFactory,
    RackFactory,
    SiteFactory,
    TagFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_apart(admin_member) -> Client:
    """An admin's own client (the conftest's clients share one, the last login winning)."""
    client = Client()
    client.force_login(admin_member)
    return client


def _field_errors(response, name: str) -> list[str]:
    """The error messages the page shows under field ``name``."""
    html = response.content.decode()
    pattern = rf'<div class="invalid-feedback[^"]*" data-field="{name}">(.*?)</div>'
    return re.findall(pattern, html, re.S)


def _machine_values(**values) -> dict:
    """What the machine form posts for a new, unplaced x86 machine, with ``values`` over it."""
    base = {
        "hostname": "new-01",
        "state": "ready",
        "arch": "x86_64",
        "uefi": "on",
        "u_height": "1",
        "face": "front",
        "full_depth": "on",
        "allow_pxe": "on",
        "allow_workflow": "on",
        "metadata": "{}",
    }
    base.update(values)
    return base


# --- sites and racks ------------------------------------------------------------------------


def test_operator_creates_a_site_and_lands_on_its_page(operator_client: Client):
    # when an operator submits a new site without a slug
    response = operator_client.post(
        reverse("dashboard:site-create"),
        {"name": "Frankfurt 2", "facility_code": "fra2", "address": "Hanauer Landstr."},
    )
    # then the site exists, its slug made from the name, and its page opens
    site = Site.objects.get(name="Frankfurt 2")
    assert site.slug == "frankfurt-2"
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:site-detail", args=[site.pk])
    assert Event.objects.filter(verb="site.created").count() == 1


def test_a_site_name_taken_is_refused_on_the_name_field(operator_client: Client):
    # given a site named Amsterdam 1
    SiteFactory(name="Amsterdam 1", slug="ams1")
    # when another is created with the same name
    response = operator_client.post(
        reverse("dashboard:site-create"), {"name": "Amsterdam 1", "slug": "ams-one"}
    )
    # then the form comes back with the service's message on the name, and nothing is saved
    assert response.status_code == 400
    assert _field_errors(response, "name")
    assert Site.objects.count() == 1


def test_editing_a_site_changes_it(operator_client: Client):
    site = SiteFactory(name="Old name", slug="old")
    # the form shows what the site holds
    assert (
        'value="Old name"'
        in operator_client.get(reverse("dashboard:site-edit", args=[site.pk])).content.decode()
    )
    response = operator_client.post(
        reverse("dashboard:site-edit", args=[site.pk]),
        {"name": "New name", "slug": "old", "address": "Dock 4"},
    )
    assert response.status_code == 302
    site.refresh_from_db()
    assert (site.name, site.address) == ("New name", "Dock 4")


def test_a_new_rack_from_the_site_page_has_its_site_chosen(operator_client: Client):
    site = SiteFactory()
    response = operator_client.get(reverse("dashboard:rack-create") + f"?site={site.pk}")
    assert f'<option value="{site.pk}" selected>' in response.content.decode()


def test_operator_creates_a_rack(operator_client: Client):
    site = SiteFactory()
    response = operator_client.post(
        reverse("dashboard:rack-create"), {"site": site.pk, "name": "R01", "u_height": "48"}
    )
    rack = Rack.objects.get(site=site, name="R01")
    assert rack.u_height == 48
    assert response["Location"] == reverse("dashboard:rack-detail", args=[rack.pk])


def test_a_rack_name_taken_in_the_site_is_refused_on_the_name_field(operator_client: Client):
    rack = RackFactory(name="R01")
    response = operator_client.post(
        reverse("dashboard:rack-create"), {"site": rack.site_id, "name": "R01", "u_height": "42"}
    )
    assert response.status_code == 400
    assert _field_errors(response, "name") == ["This site already has a rack with this name."]
    assert Rack.objects.count() == 1


def test_a_rack_cannot_shrink_below_its_machines(operator_client: Client):
    # given a 42U rack holding a machine at U40
    rack = RackFactory(name="R01", u_height=42)
    MachineFactory(hostname="top-01", rack=rack, position=40)
    # when it is made 24U tall
    response = operator_client.post(
        reverse("dashboard:rack-edit", args=[rack.pk]),
        {"site": rack.site_id, "name": "R01", "u_height": "24"},
    )
    # then the height is refused, naming the machine, and the rack keeps its height
    assert response.status_code == 400
    [error] = _field_errors(response, "u_height")
    assert "top-01" in error
    rack.refresh_from_db()
    assert rack.u_height == 42


# --- machines -------------------------------------------------------------------------------


def test_operator_creates_a_machine_in_a_rack(operator_client: Client):
    # given a rack and a tag
    rack = RackFactory(u_height=24)
    tag = TagFactory(name="gpu")
    # when a machine is created at U10, 2U tall
    response = operator_client.post(
        reverse("dashboard:machine-create"),
        _machine_values(rack=rack.pk, position="10", u_height="2", tags=[tag.pk]),
    )
    # then it stands there, tagged, and its page opens
    machine = Machine.objects.get(hostname="new-01")
    assert (machine.rack_id, machine.position, machine.top_unit) == (rack.pk, 10, 11)
    assert [t.name for t in machine.tags.all()] == ["gpu"]
    assert machine.state == Machine.State.READY
    assert response["Location"] == reverse("dashboard:machine-detail", args=[machine.pk])


def test_an_overlapping_placement_is_refused_on_the_position_field(operator_client: Client):
    # given a rack with a 2U machine at U10-U11
    rack = RackFactory(name="R07")
    MachineFactory(hostname="db-01", rack=rack, position=10, u_height=2)
    events = Event.objects.count()
    # when a machine is placed at U11
    response = operator_client.post(
        reverse("dashboard:machine-create"), _machine_values(rack=rack.pk, position="11")
    )
    # then the service's reason is under the position, and nothing was written
    assert response.status_code == 400
    [error] = _field_errors(response, "position")
    assert "overlaps db-01 (U10-U11)" in error
    assert not Machine.objects.filter(hostname="new-01").exists()
    assert Event.objects.count() == events


def test_a_placement_above_the_rack_is_refused_on_the_position_field(operator_client: Client):
    rack = RackFactory(name="R07", u_height=24)
    response = operator_client.post(
        reverse("dashboard:machine-create"),
        _machine_values(rack=rack.pk, position="23", u_height="4"),
    )
    assert response.status_code == 400
    [error] = _field_errors(response, "position")
    assert "above the top of rack R07 (24U)" in error
    assert not Machine.objects.filter(hostname="new-01").exists()


def test_a_hostname_taken_is_refused_on_the_hostname_field(operator_client: Client):
    MachineFactory(hostname="new-01")
    response = operator_client.post(reverse("dashboard:machine-create"), _machine_values())
    assert response.status_code == 400
    assert _field_errors(response, "hostname") == ["A machine with this hostname already exists."]


def test_an_empty_unit_prefills_rack_and_position(operator_client: Client):
    rack = RackFactory()
    url = reverse("dashboard:machine-create") + f"?rack={rack.pk}&position=7"
    html = operator_client.get(url).content.decode()
    assert f'<option value="{rack.pk}" selected>' in html
    assert re.search(r'name="position" value="7"', html)


def test_editing_a_machine_moves_it_and_keeps_what_the_form_does_not_show(
    operator_client: Client,
):
    # given a placed machine with user data (a secret the operator may not read)
    rack = RackFactory()
    machine = MachineFactory(hostname="web-01", rack=rack, position=1, user_data="#cloud-config")
    form_page = operator_client.get(reverse("dashboard:machine-edit", args=[machine.pk]))
    assert 'name="user_data"' not in form_page.content.decode()
    assert 'name="state"' not in form_page.content.decode()
    # when the operator moves it to U5 and turns PXE off
    values = _machine_values(hostname="web-01", rack=rack.pk, position="5")
    del values["allow_pxe"], values["state"]
    response = operator_client.post(reverse("dashboard:machine-edit", args=[machine.pk]), values)
    # then it moved, PXE is off, and its user data is as it was
    assert response.status_code == 302
    machine.refresh_from_db()
    assert (machine.position, machine.allow_pxe, machine.user_data) == (5, False, "#cloud-config")


def test_an_admin_edits_the_secret_fields(admin_member_client: Client):
    machine = MachineFactory(hostname="web-01", user_data="old")
    form_page = admin_member_client.get(reverse("dashboard:machine-edit", args=[machine.pk]))
    assert 'name="user_data"' in form_page.content.decode()
    values = _machine_values(hostname="web-01", user_data="#cloud-config\nruncmd: []")
    admin_member_client.post(reverse("dashboard:machine-edit", args=[machine.pk]), values)
    machine.refresh_from_db()
    assert machine.user_data == "#cloud-config\nruncmd: []"


def test_metadata_that_is_not_an_object_is_refused_on_its_field(operator_client: Client):
    response = operator_client.post(
        reverse("dashboard:machine-create"), _machine_values(metadata="[1, 2]")
    )
    assert response.status_code == 400
    assert _field_errors(response, "metadata")


# --- interfaces, disks, BMC -----------------------------------------------------------------


def test_the_first_interface_is_offered_as_the_boot_one_and_saved_normalised(
    operator_client: Client,
):
    machine = MachineFactory()
    url = reverse("dashboard:interface-create", args=[machine.pk])
    assert re.search(r'name="is_boot"[^>]*checked', operator_client.get(url).content.decode())
    response = operator_client.post(
        url,
        {
            "name": "eth0",
            "mac": "52-54-00-AA-BB-CC",
            "ip": "10.0.0.5",
            "netmask": "255.255.255.0",
            "nameservers": "1.1.1.1, 9.9.9.9",
            "lease_time": "86400",
            "dhcp_enabled": "on",
            "is_boot": "on",
        },
    )
    assert response["Location"].endswith("#interfaces")
    nic = NetworkInterface.objects.get(machine=machine)
    assert (nic.mac, nic.is_boot, nic.nameservers) == (
        "52:54:00:aa:bb:cc",
        True,
        ["1.1.1.1", "9.9.9.9"],
    )
    assert nic.gateway is None


def test_a_mac_in_use_is_refused_on_the_mac_field(operator_client: Client):
    NetworkInterfaceFactory(mac="52:54:00:aa:bb:cc", machine=MachineFactory(hostname="holder"))
    machine = MachineFactory()
    response = operator_client.post(
        reverse("dashboard:interface-create", args=[machine.pk]),
        {"mac": "52:54:00:AA:BB:CC", "lease_time": "86400"},
    )
    assert response.status_code == 400
    [error] = _field_errors(response, "mac")
    assert "holder" in error
    assert not machine.interfaces.exists()


def test_a_nameserver_that_is_no_address_is_refused_on_its_field(operator_client: Client):
    machine = MachineFactory()
    response = operator_client.post(
        reverse("dashboard:interface-create", args=[machine.pk]),
        {"mac": "52:54:00:aa:bb:cd", "lease_time": "86400", "nameservers": "1.1.1.1 dns.example"},
    )
    assert response.status_code == 400
    assert _field_errors(response, "nameservers") == [
        "&#x27;dns.example&#x27; is not an IP address."
    ]


def test_editing_an_interface_and_an_admin_deleting_it(
    operator_client: Client, admin_client_apart: Client
):
    nic = NetworkInterfaceFactory(name="eth0")
    edit = reverse("dashboard:interface-edit", args=[nic.pk])
    values = {"name": "eno1", "mac": nic.mac, "lease_time": "600", "is_boot": "on"}
    assert operator_client.post(edit, values).status_code == 302
    nic.refresh_from_db()
    assert (nic.name, nic.lease_time) == ("eno1", 600)
    # deleting is the admin's, as in the API
    delete = reverse("dashboard:interface-delete", args=[nic.pk])
    assert operator_client.post(delete).status_code == 403
    assert admin_client_apart.get(delete).status_code == 200  # the confirmation
    assert admin_client_apart.post(delete).status_code == 302
    assert not NetworkInterface.objects.filter(pk=nic.pk).exists()


def test_disks_are_added_edited_and_a_device_taken_is_refused(operator_client: Client):
    machine = MachineFactory()
    create = reverse("dashboard:disk-create", args=[machine.pk])
    values = {"device": "/dev/nvme0n1", "size_bytes": "960000000000", "model": "PM9A3"}
    assert operator_client.post(create, values).status_code == 302
    disk = Disk.objects.get(machine=machine)
    assert disk.size_bytes == 960_000_000_000
    # the same device again is refused on the device field
    response = operator_client.post(create, values)
    assert response.status_code == 400
    assert _field_errors(response, "device") == [
        "This machine already has a disk with this device."
    ]
    # editing
    edit = reverse("dashboard:disk-edit", args=[disk.pk])
    assert operator_client.post(edit, {**values, "serial": "S1"}).status_code == 302
    disk.refresh_from_db()
    assert disk.serial == "S1"


def test_a_bmc_password_is_written_never_shown_and_kept_when_left_blank(
    operator_client: Client,
):
    machine = MachineFactory()
    create = reverse("dashboard:bmc-create", args=[machine.pk])
    values = {"protocol": "redfish", "address": "10.9.0.5", "username": "root"}
    # when a BMC is added with a password
    operator_client.post(create, {**values, "password": "s3cret-pw", "verify_tls": "on"})
    bmc = BMC.objects.get(machine=machine)
    assert bmc.get_password() == "s3cret-pw"
    # then neither its form nor the machine page show it back
    edit = reverse("dashboard:bmc-edit", args=[bmc.pk])
    for url in (edit, reverse("dashboard:machine-detail", args=[machine.pk])):
        assert "s3cret-pw" not in operator_client.get(url).content.decode()
    # nor does the form coming back with an error, though it was just typed
    response = operator_client.post(edit, {**values, "port": "70000", "password": "typed-pw"})
    assert response.status_code == 400
    assert "typed-pw" not in response.content.decode()
    assert _field_errors(response, "port")
    # and saving with the password left blank keeps it
    assert operator_client.post(edit, {**values, "username": "admin"}).status_code == 302
    bmc.refresh_from_db()
    assert (bmc.username, bmc.get_password()) == ("admin", "s3cret-pw")
    # while a new one replaces it, recorded without its value
    operator_client.post(edit, {**values, "password": "n3w-pw"})
    bmc.refresh_from_db()
    assert bmc.get_password() == "n3w-pw"
    changed = Event.objects.get(verb="bmc.password_changed")
    assert "n3w-pw" not in str(changed.changes) + changed.message


def test_adding_a_second_bmc_opens_the_one_there_is(operator_client: Client):
    bmc = BMCFactory()
    response = operator_client.get(reverse("dashboard:bmc-create", args=[bmc.machine_id]))
    assert response["Location"] == reverse("dashboard:bmc-edit", args=[bmc.pk])


def test_machine_page_offers_edits_by_permission(
    operator_client: Client, admin_client_apart: Client
):
    machine = MachineFactory()
    NetworkInterfaceFactory(machine=machine)
    DiskFactory(machine=machine)
    BMCFactory(machine=machine)
    url = reverse("dashboard:machine-detail", args=[machine.pk])
    operator_page = operator_client.get(url).content.decode()
    for marker in ('id="edit-machine"', 'id="add-interface"', 'id="add-disk"', 'id="edit-bmc"'):
        assert marker in operator_page
    assert "/delete/" not in operator_page  # deletes are the admin's
    admin_page = admin_client_apart.get(url).content.decode()
    assert reverse("dashboard:bmc-delete", args=[machine.bmc.pk]) in admin_page
    assert reverse("dashboard:disk-delete", args=[machine.disks.get().pk]) in admin_page


# --- the viewer -----------------------------------------------------------------------------


def _form_urls() -> list[str]:
    machine = MachineFactory()
    rack = RackFactory()
    nic = NetworkInterfaceFactory(machine=machine)
    disk = DiskFactory(machine=machine)
    bmc = BMCFactory(machine=machine)
    return [
        reverse("dashboard:site-create"),
        reverse("dashboard:site-edit", args=[rack.site_id]),
        reverse("dashboard:rack-create"),
        reverse("dashboard:rack-edit", args=[rack.pk]),
        reverse("dashboard:machine-create"),
        reverse("dashboard:machine-edit", args=[machine.pk]),
        reverse("dashboard:interface-create", args=[machine.pk]),
        reverse("dashboard:interface-edit", args=[nic.pk]),
        reverse("dashboard:interface-delete", args=[nic.pk]),
        reverse("dashboard:disk-create", args=[machine.pk]),
        reverse("dashboard:disk-edit", args=[disk.pk]),
        reverse("dashboard:disk-delete", args=[disk.pk]),
        reverse("dashboard:bmc-create", args=[machine.pk]),
        reverse("dashboard:bmc-edit", args=[bmc.pk]),
        reverse("dashboard:bmc-delete", args=[bmc.pk]),
    ]


def test_a_viewer_gets_403_on_every_form(viewer_client: Client):
    for url in _form_urls():
        assert viewer_client.get(url).status_code == 403, url
        assert viewer_client.post(url, {"name": "x"}).status_code == 403, url
    assert NetworkInterface.objects.count() == 1 and BMC.objects.count() == 1


def test_a_viewer_sees_no_create_or_edit_buttons(viewer_client: Client):
    rack = RackFactory()
    machine = MachineFactory(rack=rack, position=3)
    BMCFactory(machine=machine)
    pages = [
        reverse("dashboard:site-list"),
        reverse("dashboard:site-detail", args=[rack.site_id]),
        reverse("dashboard:rack-list"),
        reverse("dashboard:rack-detail", args=[rack.pk]),
        reverse("dashboard:machine-list"),
        reverse("dashboard:machine-detail", args=[machine.pk]),
    ]
    for url in pages:
        html = viewer_client.get(url).content.decode()
        assert "/new/" not in html and "/edit/" not in html and "/delete/" not in html, url


# --- the site page --------------------------------------------------------------------------


def test_the_site_page_draws_its_racks_side_by_side(operator_client: Client):
    # given a site with two racks, one holding machines, and another site's rack
    site = SiteFactory(name="Amsterdam 1")
    r1 = RackFactory(site=site, name="R01", u_height=12)
    r2 = RackFactory(site=site, name="R02", u_height=24)
    MachineFactory(hostname="db-01", rack=r1, position=5, u_height=2)
    MachineFactory(hostname="spare-01", rack=r1, position=None)
    RackFactory(name="elsewhere")
    # when its page is opened
    response = operator_client.get(reverse("dashboard:site-detail", args=[site.pk]))
    html = response.content.decode()
    # then each of its racks is drawn, linked to the rack page, with its machines
    assert f'id="rack-elevation-{r1.pk}"' in html and f'id="rack-elevation-{r2.pk}"' in html
    assert "elsewhere" not in html
    assert reverse("dashboard:rack-detail", args=[r1.pk]) in html
    assert (
        reverse("dashboard:machine-detail", args=[Machine.objects.get(hostname="db-01").pk]) in html
    )
    assert "2/12U" in html and "1 unplaced" in html
    # and the units are 12 + 24 labels, minus the one the 2U machine merges
    assert html.count('data-unit="') == 12 - 1 + 24
    # and free units lead to the machine form, placed there
    assert reverse("dashboard:machine-create") + f"?rack={r2.pk}&amp;position=24" in html
    # and the sites list links here
    assert (
        reverse("dashboard:site-detail", args=[site.pk])
        in operator_client.get(reverse("dashboard:site-list")).content.decode()
    )


def _site_page_queries(client: Client, site: Site) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("dashboard:site-detail", args=[site.pk]))
    assert response.status_code == 200
    return len(queries)


def test_the_site_page_makes_as_many_queries_for_5_racks_as_for_1(operator_client: Client):
    # given a site with one rack holding two machines, counted
    site = SiteFactory()
    rack = RackFactory(site=site)
    for position in (1, 2):
        MachineFactory(rack=rack, position=position)
    with_one = _site_page_queries(operator_client, site)
    # when four more racks with machines are added
    for _ in range(4):
        rack = RackFactory(site=site)
        for position in (1, 5, 9):
            MachineFactory(rack=rack, position=position)
    # then the page costs the same
    assert _site_page_queries(operator_client, site) == with_one

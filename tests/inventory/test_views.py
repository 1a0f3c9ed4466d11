"""Dashboard pages of the inventory, through Django's test client."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from inventory import services
from inventory.models import Machine
from rackpilot.core.actors import Actor
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


def _furnished_machine(rack, position: int, *, tags=(), **fields) -> Machine:
    """A machine as the pages show them: placed, with a NIC, a disk, a BMC and tags."""
    machine = MachineFactory(rack=rack, position=position, **fields)
    NetworkInterfaceFactory(machine=machine)
    DiskFactory(machine=machine)
    BMCFactory(machine=machine)
    machine.tags.set(tags)
    return machine


def _fleet(count: int) -> list[Machine]:
    site = SiteFactory()
    rack = RackFactory(site=site)
    tags = [TagFactory(), TagFactory()]
    machines = [_furnished_machine(rack, position=n + 1, tags=tags) for n in range(count)]
    # Timeline rows, through the service so they are real events.
    for machine in machines:
        services.machine_transition(
            machine=machine, actor=Actor.system("tests"), target=Machine.State.PROVISIONING
        )
    return machines


@pytest.fixture
def client_for(client: Client):
    def sign_in(user) -> Client:
        client.force_login(user)
        return client

    return sign_in


@pytest.fixture
def operator_client(client_for, operator) -> Client:
    return client_for(operator)


def _page_urls(machine: Machine) -> list[str]:
    assert machine.rack_id is not None
    return [
        reverse("dashboard:home"),
        reverse("dashboard:site-list"),
        reverse("dashboard:rack-list"),
        reverse("dashboard:rack-detail", args=[machine.rack_id]),
        reverse("dashboard:machine-list"),
        reverse("dashboard:machine-detail", args=[machine.pk]),
        reverse("dashboard:machine-import"),
    ]


def _rows(response) -> list[str]:
    """Hostnames of the machine table's rows, in order."""
    html = response.content.decode()
    return [
        chunk.split('"', 1)[0]
        for chunk in html.split('<tr data-hostname="')[1:]  # one per machine row
    ]


# --- access ----------------------------------------------------------------------------------


def test_every_page_sends_anonymous_visitors_to_the_login_page(client: Client):
    # given a machine in a rack, and nobody signed in
    [machine] = _fleet(1)
    for url in _page_urls(machine):
        # when the page is opened
        response = client.get(url)
        # then the visitor is sent to sign in, and back here afterwards
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url


def test_every_page_renders_with_data(operator_client: Client):
    # given a small fleet
    machines = _fleet(3)
    for url in _page_urls(machines[0]):
        # when an operator opens the page
        response = operator_client.get(url)
        # then it renders inside the layout
        assert response.status_code == 200, url
        assert b"Rackpilot" in response.content, url
    # and the pages that show machines name them
    machine = machines[0]
    for url in (
        reverse("dashboard:rack-detail", args=[machine.rack_id]),
        reverse("dashboard:machine-list"),
        reverse("dashboard:machine-detail", args=[machine.pk]),
    ):
        assert machine.hostname in operator_client.get(url).content.decode(), url


def test_login_page_renders_and_signs_in(client: Client, operator):
    # given the login page
    assert client.get(reverse("login")).status_code == 200
    # when the operator signs in with the right password
    response = client.post(
        reverse("login"), {"username": "operator", "password": "correct-horse-battery"}
    )
    # then the dashboard opens
    assert response.status_code == 302
    assert response["Location"] == reverse("dashboard:home")


def test_admin_link_is_shown_to_staff_only(client_for, operator, admin_user):
    # given an operator (not staff) and a staff user
    # when each opens the dashboard
    as_operator = client_for(operator).get(reverse("dashboard:home")).content.decode()
    as_staff = client_for(admin_user).get(reverse("dashboard:home")).content.decode()
    # then only the staff user sees the admin link, both see the API docs and a logout form
    assert 'href="/admin/"' not in as_operator
    assert 'href="/admin/"' in as_staff
    for html in (as_operator, as_staff):
        assert 'href="/api/v1/docs/"' in html
        assert 'action="/accounts/logout/"' in html


# --- dashboard home --------------------------------------------------------------------------


def test_home_counts_machines_per_state_and_links_to_the_filtered_list(operator_client):
    # given two ready machines and a failed one
    MachineFactory.create_batch(2, state=Machine.State.READY)
    MachineFactory(state=Machine.State.FAILED)
    # when the dashboard opens
    response = operator_client.get(reverse("dashboard:home"))
    # then each state card carries its count and a link to the list filtered by that state
    counts = dict(response.context["state_counts"])
    assert counts[Machine.State.READY] == 2
    assert counts[Machine.State.FAILED] == 1
    assert counts[Machine.State.RETIRED] == 0
    assert 'href="/machines/?state=failed"' in response.content.decode()


# --- machine list ------------------------------------------------------------------------------


def test_machine_list_filters_by_state(operator_client):
    # given machines in different states
    ready = MachineFactory(hostname="ready-1", state=Machine.State.READY)
    failed = MachineFactory(hostname="failed-1", state=Machine.State.FAILED)
    MachineFactory(hostname="retired-1", state=Machine.State.RETIRED)
    # when the list is filtered on two states
    response = operator_client.get(
        reverse("dashboard:machine-list"), {"state": ["ready", "failed"]}
    )
    # then only machines in those states are listed
    assert sorted(_rows(response)) == sorted([ready.hostname, failed.hostname])


def test_machine_list_filters_by_site(operator_client):
    # given machines in two sites
    east, west = SiteFactory(slug="east"), SiteFactory(slug="west")
    in_east = MachineFactory(rack=RackFactory(site=east), position=1)
    MachineFactory(rack=RackFactory(site=west), position=1)
    # when the list is filtered on one site
    response = operator_client.get(reverse("dashboard:machine-list"), {"site": "east"})
    # then only that site's machines are listed
    assert _rows(response) == [in_east.hostname]


def test_machine_list_search_finds_a_machine_by_any_spelling_of_its_mac(operator_client):
    # given two machines with known MAC addresses
    wanted = NetworkInterfaceFactory(mac="52:54:00:ab:cd:ef").machine
    NetworkInterfaceFactory(mac="52:54:00:12:34:56")
    # when the search box holds part of the MAC, in upper case
    response = operator_client.get(reverse("dashboard:machine-list"), {"q": "AB:CD"})
    # then only the machine with that interface is listed
    assert _rows(response) == [wanted.hostname]


def test_machine_list_search_matches_part_of_a_hostname(operator_client):
    # given machines with different hostnames
    db1 = MachineFactory(hostname="db-01.ams1")
    db2 = MachineFactory(hostname="db-02.ams1")
    MachineFactory(hostname="web-01.ams1")
    # when the search box holds "db-"
    response = operator_client.get(reverse("dashboard:machine-list"), {"q": "db-"})
    # then both database machines, and nothing else, are listed
    assert _rows(response) == [db1.hostname, db2.hostname]


def test_machine_list_sorts_by_a_column_and_reverses_on_request(operator_client):
    # given three machines
    for name in ("b-node", "c-node", "a-node"):
        MachineFactory(hostname=name)
    url = reverse("dashboard:machine-list")
    # when sorted by hostname, then by hostname descending
    ascending = _rows(operator_client.get(url, {"ordering": "hostname"}))
    descending = _rows(operator_client.get(url, {"ordering": "-hostname"}))
    # then the rows follow that order
    assert ascending == ["a-node", "b-node", "c-node"]
    assert descending == ["c-node", "b-node", "a-node"]


def test_machines_never_seen_sort_last_in_both_directions(operator_client):
    # given a machine seen long ago, one seen just now, and one never seen
    MachineFactory(hostname="never")
    MachineFactory(hostname="old", last_seen=timezone.now() - timedelta(days=3))
    MachineFactory(hostname="recent", last_seen=timezone.now())
    url = reverse("dashboard:machine-list")
    # when sorted by last seen, either way
    oldest_first = _rows(operator_client.get(url, {"ordering": "last_seen"}))
    newest_first = _rows(operator_client.get(url, {"ordering": "-last_seen"}))
    # then the never-seen machine comes last both times
    assert oldest_first == ["old", "recent", "never"]
    assert newest_first == ["recent", "old", "never"]


def test_an_unknown_ordering_is_ignored(operator_client):
    MachineFactory(hostname="only-node")
    response = operator_client.get(reverse("dashboard:machine-list"), {"ordering": "password"})
    assert response.status_code == 200
    assert _rows(response) == ["only-node"]


def test_machine_list_pagination_links_keep_the_filters(operator_client):
    # given more ready machines than fit on one page
    MachineFactory.create_batch(55, state=Machine.State.READY)
    # when the first page of the filtered list is shown
    response = operator_client.get(
        reverse("dashboard:machine-list"), {"state": "ready", "ordering": "hostname"}
    )
    # then it holds one page of rows, and the link to page 2 keeps the filter and the order
    assert len(_rows(response)) == 50
    html = response.content.decode()
    assert 'href="/machines/?state=ready&amp;ordering=hostname&amp;page=2"' in html
    # and page 2 holds the rest
    page2 = operator_client.get(
        reverse("dashboard:machine-list"), {"state": "ready", "ordering": "hostname", "page": 2}
    )
    assert len(_rows(page2)) == 5


def test_htmx_request_gets_only_the_table(operator_client):
    # given a machine
    machine = MachineFactory(hostname="htmx-node")
    # when the filter form asks through HTMX
    response = operator_client.get(
        reverse("dashboard:machine-list"), {"q": "htmx"}, headers={"HX-Request": "true"}
    )
    # then the answer is the table fragment alone, and caches keep it apart from the page
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="list-table"')
    assert "<html" not in html
    assert '<nav class="navbar' not in html
    assert machine.hostname in html
    assert "HX-Request" in response["Vary"]


def test_htmx_history_restore_gets_the_whole_page(operator_client):
    # given the back button restores a list page whose snapshot htmx no longer has
    response = operator_client.get(
        reverse("dashboard:machine-list"),
        headers={"HX-Request": "true", "HX-History-Restore-Request": "true"},
    )
    # then the full page comes back, not a fragment
    assert "<html" in response.content.decode()


@pytest.mark.parametrize(
    "url_name", ["dashboard:site-list", "dashboard:rack-list", "dashboard:machine-list"]
)
def test_other_list_pages_answer_htmx_with_their_table(operator_client, url_name):
    _fleet(1)
    response = operator_client.get(reverse(url_name), headers={"HX-Request": "true"})
    assert response.content.decode().lstrip().startswith('<div id="list-table"')


# --- query counts ----------------------------------------------------------------------------


def _query_count(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize(
    "url_name",
    ["dashboard:home", "dashboard:site-list", "dashboard:rack-list", "dashboard:machine-list"],
)
def test_list_pages_make_as_many_queries_for_30_machines_as_for_1(operator_client, url_name):
    # given one machine, counted
    _fleet(1)
    with_one = _query_count(operator_client, reverse(url_name))
    # when 29 more machines (in another site and rack) exist
    _fleet(29)
    with_thirty = _query_count(operator_client, reverse(url_name))
    # then the page makes exactly as many queries
    assert with_thirty == with_one


def test_rack_elevation_makes_as_many_queries_for_30_machines_as_for_1(operator_client):
    # given a rack with one machine, then the same rack with thirty
    rack = RackFactory()
    _furnished_machine(rack, position=1)
    url = reverse("dashboard:rack-detail", args=[rack.pk])
    with_one = _query_count(operator_client, url)
    for position in range(2, 31):
        _furnished_machine(rack, position=position)
    # then drawing the rack costs the same
    assert _query_count(operator_client, url) == with_one


def test_machine_detail_query_count_does_not_grow_with_parts_and_events(operator_client):
    # given a machine with one interface, disk, tag and event
    machine = _furnished_machine(RackFactory(), position=1, tags=[TagFactory()])
    actor = Actor.system("tests")
    services.machine_transition(machine=machine, actor=actor, target="provisioning")
    url = reverse("dashboard:machine-detail", args=[machine.pk])
    with_one = _query_count(operator_client, url)
    # when it gains many more interfaces, disks, tags and events
    for n in range(10):
        NetworkInterfaceFactory(machine=machine, is_boot=False, name=f"eth{n + 1}")
        DiskFactory(machine=machine, device=f"/dev/nvme{n}n1")
        machine.tags.add(TagFactory())
        services.machine_update(machine=machine, actor=actor, description=f"rev {n}")
    # then the page costs the same
    assert _query_count(operator_client, url) == with_one


# --- machine detail --------------------------------------------------------------------------


def test_machine_detail_shows_parts_without_the_bmc_password(operator_client):
    # given a machine with an interface, a 1.92 TB disk and a BMC with a password
    machine = MachineFactory(hostname="secret-node", hardware={"cpu": {"cores": 64}})
    NetworkInterfaceFactory(machine=machine, mac="52:54:00:aa:bb:cc", ip="10.1.2.3")
    DiskFactory(machine=machine, device="/dev/nvme0n1", size_bytes=1_920_000_000_000)
    bmc = BMCFactory(machine=machine, username="root", password="Pl41ntext-BMC-pa55!")
    # when its page is opened
    html = operator_client.get(reverse("dashboard:machine-detail", args=[machine.pk])).content
    text = html.decode()
    # then interfaces, disks (human sized), BMC facts and reported hardware are shown
    for expected in ("52:54:00:aa:bb:cc", "10.1.2.3", "/dev/nvme0n1", "1.92 TB", "root"):
        assert expected in text
    assert bmc.address in text
    assert "password set" in text
    assert "&quot;cores&quot;: 64" in text
    # and neither the password nor its ciphertext appear anywhere
    assert "Pl41ntext-BMC-pa55!" not in text
    assert bmc.password_encrypted not in text


def test_machine_detail_says_when_the_bmc_has_no_password(operator_client):
    bmc = BMCFactory()
    bmc.password_encrypted = ""
    bmc.save()
    html = operator_client.get(reverse("dashboard:machine-detail", args=[bmc.machine_id]))
    assert "no password" in html.content.decode()


def test_machine_detail_offers_only_the_allowed_next_states(operator_client):
    # given a ready machine
    machine = MachineFactory(state=Machine.State.READY)
    # when its page is opened
    response = operator_client.get(reverse("dashboard:machine-detail", args=[machine.pk]))
    # then the buttons are the lifecycle's next states, in lifecycle order
    assert [s.value for s in response.context["next_states"]] == ["provisioning", "retired"]
    html = response.content.decode()
    assert 'name="state" value="provisioning"' in html
    assert 'name="state" value="provisioned"' not in html


def test_machine_timeline_shows_changes_as_old_to_new(operator_client):
    # given a machine moved from ready to provisioning by an operator
    machine = MachineFactory(state=Machine.State.READY)
    services.machine_transition(
        machine=machine, actor=Actor(kind="user", name="alice"), target="provisioning"
    )
    # when its page is opened
    html = operator_client.get(reverse("dashboard:machine-detail", args=[machine.pk]))
    text = html.content.decode()
    # then the timeline names the actor, the verb and the change
    assert "alice" in text
    assert "machine.state_changed" in text
    assert '<span class="fw-medium">state</span>: <span class="rp-old">ready</span> → ' in text
    assert "<span>provisioning</span>" in text


# --- transitions -----------------------------------------------------------------------------


def test_transition_moves_the_machine_and_says_so(operator_client):
    # given a ready machine
    machine = MachineFactory(hostname="mover", state=Machine.State.READY)
    url = reverse("dashboard:machine-transition", args=[machine.pk])
    # when the operator moves it to provisioning
    response = operator_client.post(url, {"state": "provisioning"}, follow=True)
    # then it is provisioning, and the page says so
    machine.refresh_from_db()
    assert machine.state == Machine.State.PROVISIONING
    assert "mover is now Provisioning." in response.content.decode()


def test_refused_transition_changes_nothing_and_shows_the_error(operator_client):
    # given a ready machine
    machine = MachineFactory(state=Machine.State.READY)
    url = reverse("dashboard:machine-transition", args=[machine.pk])
    # when the operator asks for a move the lifecycle does not allow
    response = operator_client.post(url, {"state": "provisioned"}, follow=True)
    # then the machine stays ready and the page shows why
    machine.refresh_from_db()
    assert machine.state == Machine.State.READY
    text = response.content.decode()
    assert "alert-danger" in text
    assert "machine cannot go from &#x27;ready&#x27; to &#x27;provisioned&#x27;" in text


def test_transition_needs_a_post(operator_client):
    machine = MachineFactory()
    url = reverse("dashboard:machine-transition", args=[machine.pk])
    assert operator_client.get(url).status_code == 405


def test_transition_is_forbidden_without_the_change_permission(client_for, viewer):
    # given a user who may only look
    machine = MachineFactory(state=Machine.State.READY)
    url = reverse("dashboard:machine-transition", args=[machine.pk])
    # when they try to move a machine
    response = client_for(viewer).post(url, {"state": "provisioning"})
    # then they are refused and nothing changes
    assert response.status_code == 403
    machine.refresh_from_db()
    assert machine.state == Machine.State.READY


# --- CSV import ------------------------------------------------------------------------------


def test_import_page_documents_the_accepted_columns(operator_client):
    html = operator_client.get(reverse("dashboard:machine-import")).content.decode()
    for column in ("hostname", "rack", "mac", "bmc_password", "bmc_verify_tls"):
        assert f">{column}</code>" in html


def test_import_creates_the_machines_of_a_pasted_csv(operator_client):
    # given a rack and a CSV placing two machines in it
    rack = RackFactory(site=SiteFactory(slug="ams1"), name="R01")
    csv = (
        "hostname,site,rack,position,mac,bmc_address,bmc_password\n"
        "imp-1,ams1,R01,1,52:54:00:01:00:01,10.99.1.1,s3cret\n"
        "imp-2,ams1,R01,2,52:54:00:01:00:02,,\n"
    )
    # when it is pasted and imported
    response = operator_client.post(reverse("dashboard:machine-import"), {"csv": csv}, follow=True)
    # then both machines exist in the rack and the list page says so
    assert sorted(rack.machines.values_list("hostname", flat=True)) == ["imp-1", "imp-2"]
    assert Machine.objects.get(hostname="imp-1").bmc.get_password() == "s3cret"
    assert "Imported 2 machines." in response.content.decode()


def test_import_accepts_an_uploaded_file(operator_client):
    upload = SimpleUploadedFile("fleet.csv", b"\xef\xbb\xbfhostname\nfile-1\n", "text/csv")
    operator_client.post(reverse("dashboard:machine-import"), {"file": upload})
    assert Machine.objects.filter(hostname="file-1").exists()


def test_import_with_bad_rows_creates_nothing_and_lists_every_problem(operator_client):
    # given a CSV with one good row and two bad ones
    csv = "hostname,rack,mac\ngood-1,,52:54:00:02:00:01\nbad_host!,,\ngood-2,R404,\n"
    # when it is imported
    response = operator_client.post(reverse("dashboard:machine-import"), {"csv": csv})
    # then nothing is created
    assert not Machine.objects.exists()
    # and each problem is a row of the error table: row, field, message
    assert response.status_code == 200
    errors = response.context["errors"]
    assert {(e["row"], e["field"]) for e in errors} == {(3, "hostname"), (4, "rack")}
    text = response.content.decode()
    assert "nothing was imported" in text
    assert "Unknown rack &#x27;R404&#x27;." in text
    # and the CSV is kept in the form to be fixed
    assert "good-1,,52:54:00:02:00:01" in text


def test_import_refuses_unknown_columns(operator_client):
    response = operator_client.post(
        reverse("dashboard:machine-import"), {"csv": "hostname,colour\nx-1,red\n"}
    )
    assert response.context["errors"] == [
        {"row": 1, "field": "colour", "message": "Unknown column 'colour'."}
    ]
    assert not Machine.objects.exists()


def test_import_is_forbidden_without_the_add_permission(client_for, viewer):
    response = client_for(viewer).get(reverse("dashboard:machine-import"))
    assert response.status_code == 403
    assert "You may not do that" in response.content.decode()  # inside the layout


def test_unknown_machine_is_a_404_inside_the_layout(operator_client):
    response = operator_client.get(reverse("dashboard:machine-detail", args=[987654]))
    assert response.status_code == 404
    assert "Nothing here" in response.content.decode()

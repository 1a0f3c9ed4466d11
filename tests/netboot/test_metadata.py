"""EC2-style metadata for cloud-init, keyed by the request's source IP."""

from __future__ import annotations

import pytest
from django.test import Client

from inventory.models import Machine
from tests.factories import RackFactory, SiteFactory, TagFactory
from tests.netboot.conftest import make_machine

pytestmark = pytest.mark.django_db

IP = "10.0.2.15"
KEY_A = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA alice@laptop"
KEY_B = "ssh-rsa AAAAB3NzaC1yc2EAAAADAQAB"


@pytest.fixture
def machine(db: None) -> Machine:
    return make_machine(
        hostname="web-01",
        mac="52:54:00:12:34:56",
        ip=IP,
        rack=RackFactory(site=SiteFactory(facility_code="fra1")),
        position=3,
        user_data="#cloud-config\nhostname: web-01\n",
        metadata={
            "facility": {"facility_code": "ignored-site-wins", "plan_slug": "c3.small.x86"},
            "instance": {
                "id": "7f2b9c1e-instance",
                "hostname": "web-01.fra1",
                "ssh_keys": [KEY_A, KEY_B],
                "tags": ["web", "prod"],
                "operating_system": {
                    "slug": "ubuntu_22_04",
                    "distro": "ubuntu",
                    "version": "22.04",
                    "image_tag": "",
                },
            },
        },
    )


def get(client: Client, path: str, ip: str = IP):
    return client.get(f"/2009-04-04/{path}", REMOTE_ADDR=ip)


def test_root_lists_keys_one_per_line_with_directories_marked(
    client: Client, machine: Machine
) -> None:
    response = get(client, "meta-data/")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content.decode() == "\n".join(
        [
            "instance-id",
            "hostname",
            "local-hostname",
            "local-ipv4",
            "plan",
            "facility",
            "public-keys/",
            "tags/",
            "operating-system/",
        ]
    )


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("instance-id", "7f2b9c1e-instance"),
        ("hostname", "web-01.fra1"),
        ("local-hostname", "web-01.fra1"),
        ("local-ipv4", IP),
        ("plan", "c3.small.x86"),
        ("facility", "fra1"),
        ("public-keys/", "0=alice@laptop\n1=key-1"),
        ("public-keys", "0=alice@laptop\n1=key-1"),
        ("public-keys/0/", "openssh-key"),
        ("public-keys/0/openssh-key", KEY_A),
        ("public-keys/1/openssh-key", KEY_B),
        ("tags/", "web\nprod"),
        ("tags/web", "web"),
        ("operating-system/", "slug\ndistro\nversion"),
        ("operating-system/slug", "ubuntu_22_04"),
        ("operating-system/distro", "ubuntu"),
        ("operating-system/version", "22.04"),
    ],
)
def test_values(client: Client, machine: Machine, path: str, value: str) -> None:
    response = get(client, f"meta-data/{path}")
    assert response.status_code == 200
    assert response.content.decode() == value


def test_latest_answers_like_the_dated_version(client: Client, machine: Machine) -> None:
    response = client.get("/latest/meta-data/hostname", REMOTE_ADDR=IP)
    assert response.content == b"web-01.fra1"


def test_missing_keys_are_404(client: Client, machine: Machine) -> None:
    for path in ("meta-data/nope", "meta-data/operating-system/image_tag", "meta-data/tags/x"):
        response = get(client, path)
        assert response.status_code == 404, path
        assert "no meta-data at" in response.content.decode()


def test_inventory_fills_in_what_metadata_lacks(client: Client) -> None:
    machine = make_machine(hostname="bare-01", mac="52:54:00:00:00:09", ip="10.9.9.9")
    machine.tags.add(TagFactory(name="gpu"))
    assert get(client, "meta-data/", ip="10.9.9.9").content.decode() == "\n".join(
        ["instance-id", "hostname", "local-hostname", "local-ipv4", "tags/"]
    )
    assert get(client, "meta-data/instance-id", ip="10.9.9.9").content.decode() == (
        f"rackpilot-{machine.pk}"
    )
    assert get(client, "meta-data/hostname", ip="10.9.9.9").content == b"bare-01"
    assert get(client, "meta-data/tags/", ip="10.9.9.9").content == b"gpu"
    assert get(client, "meta-data/public-keys/", ip="10.9.9.9").status_code == 404


def test_user_data(client: Client, machine: Machine) -> None:
    response = get(client, "user-data")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response.content == b"#cloud-config\nhostname: web-01\n"


def test_empty_user_data_is_404(client: Client) -> None:
    make_machine(hostname="empty-01", mac="52:54:00:00:00:08", ip="10.9.9.8")
    response = get(client, "user-data", ip="10.9.9.8")
    assert response.status_code == 404
    assert response.content.decode() == "empty-01 has no user-data\n"


def test_unknown_source_ip_is_404(client: Client, machine: Machine) -> None:
    for path in ("meta-data/", "meta-data/hostname", "user-data"):
        response = get(client, path, ip="10.0.2.99")
        assert response.status_code == 404, path
        assert response.content.decode() == "no machine has an interface with IP 10.0.2.99\n"


def test_metadata_is_never_cached(client: Client, machine: Machine) -> None:
    assert "no-cache" in get(client, "meta-data/hostname")["Cache-Control"]


def test_query_count_is_constant(client: Client, machine: Machine, django_assert_num_queries):
    for n in range(30):
        make_machine(mac=f"52:54:00:00:20:{n:02x}", ip=f"10.6.0.{n + 2}")
    with django_assert_num_queries(2):  # interface+machine+site, the machine's tags
        get(client, "meta-data/")
    with django_assert_num_queries(1):
        get(client, "user-data")

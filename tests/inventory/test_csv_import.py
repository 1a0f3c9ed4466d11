"""CSV bulk import: all rows or none, every bad row reported with its line and column."""

from __future__ import annotations

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from inventory.models import BMC, Machine, NetworkInterface
from tests.factories import NetworkInterfaceFactory, RackFactory

pytestmark = pytest.mark.django_db

HEADER = (
    "hostname,site,rack,position,u_height,mac,ip,netmask,gateway,"
    "bmc_protocol,bmc_address,bmc_username,bmc_password,tags\n"
)


@pytest.fixture
def rack():
    return RackFactory(site__slug="fra1", name="A01")


def test_valid_csv_creates_machines_with_interface_and_bmc(api, rack):
    csv_text = HEADER + (
        "web-01,fra1,A01,1,1,52:54:00:00:10:01,10.0.0.11,255.255.255.0,10.0.0.1,ipmi,10.9.0.11,admin,pw1,\n"
        "web-02,fra1,A01,2,2,52-54-00-00-10-02,10.0.0.12,255.255.255.0,10.0.0.1,redfish,10.9.0.12,root,pw2,\n"
    )
    upload = SimpleUploadedFile("machines.csv", csv_text.encode(), content_type="text/csv")

    response = api.post("/api/v1/machines/import-csv/", {"file": upload}, format="multipart")

    assert response.status_code == 201, response.json()
    assert response.json() == {"created": 2, "machines": ["web-01", "web-02"]}
    web2 = Machine.objects.get(hostname="web-02")
    assert (web2.rack, web2.position, web2.u_height) == (rack, 2, 2)
    nic = web2.interfaces.get()
    assert (nic.mac, nic.ip, nic.is_boot) == ("52:54:00:00:10:02", "10.0.0.12", True)
    assert web2.bmc.protocol == "redfish"
    assert web2.bmc.get_password() == "pw2"


def test_every_bad_row_is_reported_and_nothing_is_written(api, rack):
    NetworkInterfaceFactory(mac="52:54:00:00:99:99", machine__hostname="existing")
    csv_text = HEADER + (
        "ok-01,fra1,A01,1,1,52:54:00:00:20:01,10.0.0.21,,,,,,,\n"
        "bad-mac,fra1,A01,3,1,52:54:00:zz,,,,,,,,\n"
        "dup-mac,fra1,A01,4,1,52:54:00:00:99:99,,,,,,,,\n"
        "overlap,fra1,A01,1,1,52:54:00:00:20:04,,,,,,,,\n"
        "ok-01,fra1,A01,6,1,52:54:00:00:20:05,,,,,,,,\n"
        "lost,fra1,Z99,7,1,52:54:00:00:20:06,,,,,,,,\n"
        "badbmc,fra1,A01,8,1,52:54:00:00:20:07,,,,telnet,10.1.1.1,,,\n"
        "badtag,fra1,A01,9,1,52:54:00:00:20:08,,,,,,,,nosuchtag\n"
    )

    response = api.post("/api/v1/machines/import-csv/", {"csv": csv_text}, format="json")

    assert response.status_code == 400
    errors = {(e["row"], e["field"]) for e in response.json()["errors"]}
    assert (3, "mac") in errors  # malformed
    assert (4, "mac") in errors  # used by another machine
    assert (5, "position") in errors  # overlaps ok-01 from row 2
    assert (6, "hostname") in errors  # duplicate within the file
    assert (7, "rack") in errors  # unknown rack
    assert (8, "bmc_protocol") in errors
    assert (9, "tags") in errors
    assert not any(row == 2 for row, _ in errors)
    assert Machine.objects.count() == 1  # only the pre-existing machine
    assert NetworkInterface.objects.count() == 1
    assert not BMC.objects.exists()


def test_messages_name_the_problem(api, rack):
    csv_text = "hostname,rack,position\nx,A01,41\ny,A01,abc\n"
    response = api.post("/api/v1/machines/import-csv/", {"csv": csv_text}, format="json")
    by_row = {e["row"]: e for e in response.json()["errors"]}
    assert (
        by_row[3]["field"] == "position" and "'abc' is not a whole number" in by_row[3]["message"]
    )


def test_unknown_and_missing_columns_are_refused(api):
    response = api.post(
        "/api/v1/machines/import-csv/", {"csv": "name,colour\nx,blue\n"}, format="json"
    )
    assert response.status_code == 400
    messages = [e["message"] for e in response.json()["errors"]]
    assert "Missing required column 'hostname'." in messages
    assert "Unknown column 'name'." in messages and "Unknown column 'colour'." in messages


def test_empty_csv_and_missing_body(api):
    response = api.post("/api/v1/machines/import-csv/", {"csv": "hostname\n"}, format="json")
    assert response.status_code == 400
    assert response.json()["errors"][0]["message"] == "The CSV has no data rows."
    assert api.post("/api/v1/machines/import-csv/", {}, format="json").status_code == 400


def test_import_needs_permission(viewer):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(viewer)
    response = client.post("/api/v1/machines/import-csv/", {"csv": "hostname\na\n"}, format="json")
    assert response.status_code == 403
    assert not Machine.objects.exists()

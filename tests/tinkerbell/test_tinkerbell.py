"""Tinkerbell Hardware documents: import (all or nothing), export, and the round trip."""

from __future__ import annotations

import copy
import io
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from inventory import services
from inventory.models import Disk, Machine, NetworkInterface
from rackpilot.core.models import Event
from tests.factories import DiskFactory, MachineFactory, NetworkInterfaceFactory
from tinkerbell.formats import RESERVED_KEY, import_documents

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "tinkerbell"
SM01 = FIXTURES / "sm01.yaml"
RACK_C12 = FIXTURES / "rack-c12.yaml"


def run(*args: str, stdin: str | None = None) -> tuple[str, str]:
    """Run a management command; give ``stdin`` to feed standard input."""
    out, err = io.StringIO(), io.StringIO()
    saved = sys.stdin
    if stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        call_command(*args, stdout=out, stderr=err)
    finally:
        sys.stdin = saved
    return out.getvalue(), err.getvalue()


def import_failure(text: str) -> str:
    """Import ``text`` from standard input, expect a refusal, return what went to stderr."""
    err = io.StringIO()
    saved, sys.stdin = sys.stdin, io.StringIO(text)
    try:
        with pytest.raises(CommandError, match="nothing was imported"):
            call_command("import_tinkerbell", "-", stdout=io.StringIO(), stderr=err)
    finally:
        sys.stdin = saved
    return err.getvalue()


def documents(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text()) if d is not None]


def dump(*docs: dict[str, Any]) -> str:
    return yaml.safe_dump_all(docs, sort_keys=False)


def exported(*hostnames: str) -> list[dict[str, Any]]:
    out, _ = run("export_tinkerbell", *(f"--machine={h}" for h in hostnames))
    return list(yaml.safe_load_all(out))


def without_zero_values(value: Any) -> Any:
    """What Tinkerbell's Go types keep: ``omitempty`` drops false, 0, "" and empty lists/maps."""
    if isinstance(value, dict):
        kept = {k: without_zero_values(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in (None, False, 0, "", [], {})}
    if isinstance(value, list):
        return [without_zero_values(v) for v in value]
    return value


def counts() -> tuple[int, int, int, int]:
    return (
        Machine.objects.count(),
        NetworkInterface.objects.count(),
        Disk.objects.count(),
        Event.objects.count(),
    )


# --- import ------------------------------------------------------------------------------


def test_import_creates_machine_interfaces_disks_metadata_and_user_data():
    out, err = run("import_tinkerbell", str(SM01))

    assert out == "created Hardware sm01\n"
    assert err == ""
    machine = Machine.objects.get(hostname="sm01")
    assert (machine.arch, machine.uefi, machine.state) == ("x86_64", True, "ready")
    assert (machine.allow_pxe, machine.allow_workflow) == (True, True)
    assert machine.user_data.startswith("#cloud-config\nhostname: sm01\n")
    assert machine.vendor_data == "#cloud-config\ntimezone: Europe/Berlin\n"
    assert machine.metadata["facility"]["facility_code"] == "fra2"
    assert machine.metadata["instance"]["operating_system"]["os_slug"] == "ubuntu_22_04"
    assert machine.metadata[RESERVED_KEY]["object"]["namespace"] == "tink-system"
    boot, storage = machine.interfaces.order_by("-is_boot")
    assert (boot.name, boot.mac, boot.is_boot) == ("eno1", "3c:ec:ef:4a:10:02", True)
    assert (boot.ip, boot.netmask, boot.gateway) == ("10.40.7.21", "255.255.255.0", "10.40.7.1")
    assert (boot.nameservers, boot.timeservers) == (["10.40.0.53", "10.40.1.53"], ["10.40.0.123"])
    assert (boot.hostname, boot.lease_time, boot.vlan_id) == ("sm01", 43200, None)
    assert (storage.name, storage.vlan_id, storage.is_boot) == ("enp65s0f1", 310, False)
    assert (storage.gateway, storage.dhcp_enabled) == (None, True)
    assert sorted(machine.disks.values_list("device", flat=True)) == [
        "/dev/nvme0n1",
        "/dev/nvme1n1",
    ]
    created = Event.objects.filter(actor_name="import_tinkerbell", machine=machine)
    assert set(created.values_list("verb", flat=True)) == {
        "machine.created",
        "interface.created",
        "disk.created",
    }


def test_import_reads_several_documents_from_standard_input():
    out, _ = run("import_tinkerbell", "-", stdin=RACK_C12.read_text())

    assert out.splitlines() == [
        "created Hardware c12-u03",
        "created Hardware c12-u05",
        "created Hardware c12-u07",
    ]
    arm = Machine.objects.get(hostname="c12-u05")
    assert (arm.arch, arm.uefi) == ("aarch64", True)
    assert arm.ipxe_url == "http://10.12.0.10/ipxe/arm64-installer.ipxe"
    second = arm.interfaces.get(is_boot=False)
    assert (second.mac, second.name, second.dhcp_enabled) == (
        "52:54:00:c1:20:06",
        "enP2p1s0f1",
        False,
    )
    rescue = Machine.objects.get(hostname="c12-u07")
    assert rescue.ipxe_script.startswith("#!ipxe\ndhcp\n")
    assert (rescue.allow_pxe, rescue.allow_workflow) == (True, False)
    assert Machine.objects.get(hostname="c12-u03").uefi is False


def test_import_documents_returns_what_it_created(actor):
    result = import_documents(text=SM01.read_text(), actor=actor)

    assert [str(o) for o in result.created] == ["created Hardware sm01"]
    assert result.updated == []
    assert result.warnings == []


def test_dry_run_reports_and_writes_nothing():
    before = counts()

    out, _ = run("import_tinkerbell", str(SM01), "--dry-run")

    assert out.splitlines() == ["created Hardware sm01", "dry run: nothing was written"]
    assert counts() == before


def test_a_kubectl_list_is_imported_item_by_item():
    items = documents(RACK_C12)[:2]
    listing = {"apiVersion": "v1", "kind": "List", "metadata": {}, "items": items}

    out, _ = run("import_tinkerbell", "-", stdin=dump(listing))

    assert out.splitlines() == ["created Hardware c12-u03", "created Hardware c12-u05"]


def test_unknown_fields_are_kept_with_a_warning():
    doc = documents(SM01)[0]
    doc["spec"]["interfaces"][0]["netboot"]["allowPxe"] = True  # a typo of allowPXE

    _, err = run("import_tinkerbell", "-", stdin=dump(doc))

    assert err == (
        "warning: document 1 (sm01): spec.interfaces[0].netboot.allowPxe: not a Hardware "
        "field; kept as it is for export\n"
    )
    assert exported("sm01")[0]["spec"]["interfaces"][0]["netboot"]["allowPxe"] is True


# --- round trip ------------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", [SM01, RACK_C12], ids=["single", "multi-document"])
def test_export_gives_back_an_equivalent_document(fixture):
    given = documents(fixture)
    run("import_tinkerbell", str(fixture))

    back = exported(*(d["metadata"]["name"] for d in given))

    assert [without_zero_values(d) for d in back] == [without_zero_values(d) for d in given]
    assert all(RESERVED_KEY not in d["spec"].get("metadata", {}) for d in back)


def test_exported_documents_import_again_without_changes(tmp_path):
    run("import_tinkerbell", str(RACK_C12))
    target = tmp_path / "rack.yaml"
    run("export_tinkerbell", "--all", f"--output={target}")
    before = counts()

    out, _ = run("import_tinkerbell", str(target))

    assert out.splitlines() == [
        "unchanged Hardware c12-u03",
        "unchanged Hardware c12-u05",
        "unchanged Hardware c12-u07",
    ]
    assert counts() == before


def test_order_of_disks_survives_because_templates_index_them():
    run("import_tinkerbell", str(RACK_C12))

    (doc,) = exported("c12-u07")

    assert doc["spec"]["disks"] == [{"device": "/dev/sdb"}, {"device": "/dev/sda"}]


def test_changes_made_in_rackpilot_show_in_the_export(actor):
    run("import_tinkerbell", str(SM01))
    machine = Machine.objects.get(hostname="sm01")

    services.machine_update(machine=machine, actor=actor, allow_pxe=False, arch="aarch64")
    (doc,) = exported("sm01")

    interfaces = doc["spec"]["interfaces"]
    assert [i["netboot"]["allowPXE"] for i in interfaces] == [False, False]
    assert [i["dhcp"]["arch"] for i in interfaces] == ["aarch64", "aarch64"]
    assert [i["netboot"]["allowWorkflow"] for i in interfaces] == [True, False]


def test_machine_made_in_rackpilot_exports_as_importable_hardware():
    machine = MachineFactory(hostname="r640-01", uefi=False, user_data="#cloud-config\n")
    NetworkInterfaceFactory(
        machine=machine, mac="52:54:00:aa:00:01", ip="10.20.0.2", gateway="10.20.0.1", vlan_id=20
    )
    DiskFactory(machine=machine, device="/dev/sda")

    (doc,) = exported("r640-01")

    assert doc == {
        "apiVersion": "tinkerbell.org/v1alpha1",
        "kind": "Hardware",
        "metadata": {"name": "r640-01"},
        "spec": {
            "interfaces": [
                {
                    "dhcp": {
                        "mac": "52:54:00:aa:00:01",
                        "ip": {
                            "address": "10.20.0.2",
                            "netmask": "255.255.255.0",
                            "gateway": "10.20.0.1",
                        },
                        "lease_time": 86400,
                        "arch": "x86_64",
                        "iface_name": "eth0",
                        "vlan_id": "20",
                    },
                    "netboot": {"allowPXE": True, "allowWorkflow": True},
                }
            ],
            "disks": [{"device": "/dev/sda"}],
            "userData": "#cloud-config\n",
        },
    }
    out, _ = run("import_tinkerbell", "-", stdin=dump(doc))
    assert out == "unchanged Hardware r640-01\n"


# --- re-import ---------------------------------------------------------------------------------


def test_reimport_of_a_changed_document_updates_and_removes_a_dropped_interface():
    run("import_tinkerbell", str(SM01))
    machine = Machine.objects.get(hostname="sm01")
    dropped = NetworkInterface.objects.get(mac="3c:ec:ef:4a:10:03")
    doc = documents(SM01)[0]
    del doc["spec"]["interfaces"][1]
    doc["spec"]["interfaces"][0]["dhcp"]["ip"]["address"] = "10.40.7.99"
    doc["spec"]["disks"].append({"device": "/dev/sda"})
    doc["spec"]["userData"] = "#cloud-config\nhostname: sm01-new\n"
    mark = Event.objects.order_by("-pk").values_list("pk", flat=True)[0]

    out, _ = run("import_tinkerbell", "-", stdin=dump(doc))

    assert out == "updated Hardware sm01\n"
    machine.refresh_from_db()
    assert machine.user_data == "#cloud-config\nhostname: sm01-new\n"
    assert list(machine.interfaces.values_list("mac", "ip")) == [
        ("3c:ec:ef:4a:10:02", "10.40.7.99")
    ]
    assert machine.disks.count() == 3
    events = Event.objects.filter(pk__gt=mark, machine=machine)
    assert sorted(events.values_list("verb", flat=True)) == [
        "disk.created",
        "interface.deleted",
        "interface.updated",
        "machine.updated",
    ]
    assert events.get(verb="interface.deleted").object_id == str(dropped.pk)
    assert events.get(verb="interface.updated").changes["ip"] == ["10.40.7.21", "10.40.7.99"]
    assert set(events.values_list("actor_name", flat=True)) == {"import_tinkerbell"}


def test_reimport_of_the_same_file_changes_nothing():
    run("import_tinkerbell", str(SM01))
    before = counts()

    out, _ = run("import_tinkerbell", str(SM01))

    assert out == "unchanged Hardware sm01\n"
    assert counts() == before


def test_listing_another_interface_first_makes_it_the_boot_interface():
    run("import_tinkerbell", str(SM01))
    doc = documents(SM01)[0]
    doc["spec"]["interfaces"].reverse()

    out, _ = run("import_tinkerbell", "-", stdin=dump(doc))

    assert out == "updated Hardware sm01\n"
    assert NetworkInterface.objects.get(is_boot=True).mac == "3c:ec:ef:4a:10:03"
    (back,) = exported("sm01")
    assert [i["dhcp"]["mac"] for i in back["spec"]["interfaces"]] == [
        "3c:ec:ef:4a:10:03",
        "3c:ec:ef:4a:10:02",
    ]


def test_a_second_ipxe_override_stays_with_its_interface():
    doc = documents(SM01)[0]
    first, second = doc["spec"]["interfaces"]
    first["netboot"]["ipxe"] = {"url": "http://10.40.0.10/a.ipxe"}
    second["netboot"]["ipxe"] = {"url": "http://10.40.0.10/b.ipxe", "binary": "ipxe.efi"}

    run("import_tinkerbell", "-", stdin=dump(doc))

    assert Machine.objects.get().ipxe_url == "http://10.40.0.10/a.ipxe"
    assert without_zero_values(exported("sm01")[0]) == without_zero_values(doc)


def test_a_document_with_a_known_mac_renames_that_machine():
    NetworkInterfaceFactory(mac="3c:ec:ef:4a:10:02", machine__hostname="old-name")

    out, _ = run("import_tinkerbell", str(SM01))

    assert out == "updated Hardware sm01\n"
    assert list(Machine.objects.values_list("hostname", flat=True)) == ["sm01"]


# --- errors ------------------------------------------------------------------------------------


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Change one field of the document, given as a dotted path with [index] parts."""

    def change(doc: dict[str, Any]) -> None:
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        node: Any = doc
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        if value is None:
            del node[int(last) if last.isdigit() else last]
        else:
            node[int(last) if last.isdigit() else last] = value

    return change


BAD_DOCUMENTS = {
    "bad mac": (
        _set("spec.interfaces[0].dhcp.mac", "zz:zz"),
        "document 1 (sm01): spec.interfaces[0].dhcp.mac: 'zz:zz' is not a MAC address",
    ),
    "wrong kind": (
        _set("kind", "Hardwear"),
        "document 1 (sm01): kind: 'Hardwear' is not supported "
        "(supported: Hardware, Template, Workflow)",
    ),
    "wrong apiVersion": (
        _set("apiVersion", "tinkerbell.org/v1beta1"),
        "document 1 (sm01): apiVersion: 'tinkerbell.org/v1beta1' is not supported for "
        "Hardware (expected tinkerbell.org/v1alpha1)",
    ),
    "missing name": (_set("metadata.name", None), "document 1: metadata.name: required"),
    "interfaces not a list": (
        _set("spec.interfaces", "eth0"),
        "document 1 (sm01): spec.interfaces: expected a list, got 'eth0'",
    ),
    "mac twice in one document": (
        _set("spec.interfaces[1].dhcp.mac", "3C:EC:EF:4A:10:02"),
        "document 1 (sm01): spec.interfaces[1].dhcp.mac: 3c:ec:ef:4a:10:02 is also listed by "
        "spec.interfaces[0]",
    ),
    "vlan out of range": (
        _set("spec.interfaces[1].dhcp.vlan_id", "5000"),
        "document 1 (sm01): spec.interfaces[1].dhcp.vlan_id: 5000: Ensure this value is less",
    ),
    "name server not an address": (
        _set("spec.interfaces[0].dhcp.name_servers[1]", "ns1.example.com"),
        "spec.interfaces[0].dhcp.name_servers[1]: 'ns1.example.com' is not an IP address",
    ),
    "unsupported arch": (
        _set("spec.interfaces[0].dhcp.arch", "ppc64le"),
        "spec.interfaces[0].dhcp.arch: 'ppc64le' is not supported (use x86_64 or aarch64)",
    ),
    "wrong type": (
        _set("spec.interfaces[0].dhcp.lease_time", "12h"),
        "spec.interfaces[0].dhcp.lease_time: expected a whole number, got '12h'",
    ),
    "bad netmask": (
        _set("spec.interfaces[0].dhcp.ip.netmask", "255.0.255.0"),
        "spec.interfaces[0].dhcp.ip.netmask: '255.0.255.0' is not a netmask",
    ),
    "disk not under /dev": (
        _set("spec.disks[0].device", "nvme0n1"),
        "spec.disks[0].device: 'nvme0n1': A disk device is a path under /dev/",
    ),
    "reserved metadata key": (
        _set(f"spec.metadata.{RESERVED_KEY}", {"x": 1}),
        f"spec.metadata.{RESERVED_KEY}: this key is reserved by Rackpilot",
    ),
}


@pytest.mark.parametrize("case", BAD_DOCUMENTS.values(), ids=BAD_DOCUMENTS.keys())
def test_a_bad_document_is_refused_naming_the_field_and_nothing_is_written(case):
    change, message = case
    doc = documents(SM01)[0]
    change(doc)
    before = counts()

    err = import_failure(dump(doc))

    assert message in err
    assert counts() == before


def test_a_malformed_document_reports_every_problem():
    doc = documents(SM01)[0]
    doc["spec"]["interfaces"][0]["dhcp"] = "eno1"
    doc["spec"]["interfaces"][1]["netboot"]["allowPXE"] = "yes please"
    doc["spec"]["disks"] = {"device": "/dev/sda"}

    err = import_failure(dump(doc))

    assert err.splitlines() == [
        "document 1 (sm01): spec.interfaces[0].dhcp: expected a mapping, got 'eno1'",
        "document 1 (sm01): spec.interfaces[0].dhcp.mac: required",
        "document 1 (sm01): spec.interfaces[1].netboot.allowPXE: expected true or false, got "
        "'yes please'",
        "document 1 (sm01): spec.disks: expected a list, got {'device': '/dev/sda'}",
    ]


def test_a_mac_of_another_machine_is_refused():
    MachineFactory(hostname="sm01")
    NetworkInterfaceFactory(mac="3c:ec:ef:4a:10:03", name="eno2", machine__hostname="sm99")
    before = counts()

    err = import_failure(SM01.read_text())

    assert err == (
        "document 1 (sm01): spec.interfaces[1].dhcp.mac: 3c:ec:ef:4a:10:03 is already used "
        "by eno2 of machine sm99\n"
    )
    assert counts() == before


def test_a_mac_listed_by_two_documents_is_refused():
    first, second = documents(RACK_C12)[:2]
    second["spec"]["interfaces"][1]["dhcp"]["mac"] = "52:54:00:c1:20:03"

    err = import_failure(dump(first, second))

    assert err == (
        "document 2 (c12-u05): spec.interfaces[1].dhcp.mac: 52:54:00:c1:20:03 is also listed "
        "by document 1 (c12-u03)\n"
    )
    assert counts() == (0, 0, 0, 0)


def test_macs_of_two_other_machines_are_refused():
    NetworkInterfaceFactory(mac="3c:ec:ef:4a:10:02", machine__hostname="sm98")
    NetworkInterfaceFactory(mac="3c:ec:ef:4a:10:03", name="eno2", machine__hostname="sm99")

    err = import_failure(SM01.read_text())

    assert err == (
        "document 1 (sm01): spec.interfaces[1].dhcp.mac: 3c:ec:ef:4a:10:03 is already used "
        "by eno2 of machine sm99\n"
    )


def test_a_name_defined_twice_is_refused():
    doc = documents(SM01)[0]
    twin = copy.deepcopy(doc)
    for nic, mac in zip(
        twin["spec"]["interfaces"], ["52:54:00:00:00:01", "52:54:00:00:00:02"], strict=True
    ):
        nic["dhcp"]["mac"] = mac

    err = import_failure(dump(doc, twin))

    assert "document 2 (sm01): metadata.name: 'sm01' is also defined by document 1 (sm01)" in err


def test_yaml_errors_report_line_and_column():
    text = (
        "apiVersion: tinkerbell.org/v1alpha1\n"
        "kind: Hardware\n"
        "metadata:\n"
        "  name: sm01\n"
        "spec:\n"
        "  interfaces:\n"
        "    - dhcp:\n"
        "        mac: 52:54:00:00:00:01\n"
        "      netboot: {allowPXE: true\n"
    )

    err = import_failure(text)

    assert err.startswith("line 10, column 1: expected ',' or '}', but got '<stream end>'")
    assert counts() == (0, 0, 0, 0)


def test_a_key_given_twice_is_refused_with_its_line():
    text = SM01.read_text().replace("  tinkVersion: 2\n", "  tinkVersion: 2\n  tinkVersion: 3\n")

    err = import_failure(text)

    assert err == (
        "line 19, column 3: found duplicate key 'tinkVersion' "
        "(while constructing a mapping at line 14, column 3)\n"
    )


def test_a_bad_third_document_writes_none_of_the_first_two():
    text = RACK_C12.read_text().replace("mac: 52:54:00:c1:20:07", "mac: 52:54:00:c1:20:7g")

    err = import_failure(text)

    assert err == (
        "document 3 (c12-u07): spec.interfaces[0].dhcp.mac: '52:54:00:c1:20:7g' is not a MAC "
        "address\n"
    )
    assert counts() == (0, 0, 0, 0)


def test_errors_inside_a_list_name_the_item():
    items = documents(RACK_C12)[:2]
    items[1]["spec"]["interfaces"][0]["dhcp"]["mac"] = "52:54:00:c1:20"
    listing = {"apiVersion": "v1", "kind": "List", "items": items}

    err = import_failure(dump(listing))

    assert err == (
        "document 1 items[1] (c12-u05): spec.interfaces[0].dhcp.mac: '52:54:00:c1:20' is not "
        "a MAC address\n"
    )


def test_an_empty_file_is_refused():
    assert import_failure("---\n# nothing here\n") == "no documents found\n"


# --- export ------------------------------------------------------------------------------------


def test_export_of_an_unknown_hostname_fails_naming_it():
    MachineFactory(hostname="known")

    with pytest.raises(CommandError, match="no machine named ghost-01, ghost-02"):
        run("export_tinkerbell", "--machine=known", "--machine=ghost-01", "--machine=ghost-02")


def test_export_needs_machines_or_all():
    with pytest.raises(CommandError, match="--all or one or more --machine"):
        run("export_tinkerbell")


def test_export_all_writes_one_document_per_machine_to_a_file(tmp_path):
    run("import_tinkerbell", str(RACK_C12))
    MachineFactory(hostname="a-first")
    target = tmp_path / "hardware.yaml"

    out, _ = run("export_tinkerbell", "--all", "--output", str(target))

    assert out == ""
    names = [d["metadata"]["name"] for d in yaml.safe_load_all(target.read_text())]
    assert names == ["a-first", "c12-u03", "c12-u05", "c12-u07"]
    assert "userData: |\n    #cloud-config\n" in target.read_text()

"""The data Tinkerbell gives a template: the hardware map's keys at the top level
(``.device_1``), ``.Hardware`` (Disks as device paths, Interfaces/Metadata shaped as
Tinkerbell's Go structs, UserData, VendorData), ``.hardware`` (the machine as Tinkerbell's typed
Hardware object by JSON names, see ``hardware_object``) and ``.references`` (the objects the
Hardware's ``spec.references`` name, by reference name; a reference with no object is absent,
so a template using it fails as Tinkerbell's missingkey=error does)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from inventory.models import Machine
from tinkerbell.formats import RESERVED_KEY, hardware_document
from tinkerbell.formats.references import REFERENCE_DATA
from tinkerbell.hardware_object import typed_hardware


def _get(mapping: Any, key: str, default: Any = None) -> Any:
    return mapping.get(key, default) if isinstance(mapping, Mapping) else default


def _go_ip(ip: Any) -> dict[str, Any] | None:
    if not isinstance(ip, Mapping):
        return None
    return {
        "Address": _get(ip, "address", ""),
        "Netmask": _get(ip, "netmask", ""),
        "Gateway": _get(ip, "gateway", ""),
        "Family": _get(ip, "family", 0),
    }


def _go_dhcp(dhcp: Any) -> dict[str, Any] | None:
    if not isinstance(dhcp, Mapping):
        return None
    return {
        "MAC": _get(dhcp, "mac", ""),
        "Arch": _get(dhcp, "arch", ""),
        "UEFI": bool(_get(dhcp, "uefi", False)),
        "Hostname": _get(dhcp, "hostname", ""),
        "DomainName": _get(dhcp, "domain_name", ""),
        "IP": _go_ip(_get(dhcp, "ip")),
        "LeaseTime": _get(dhcp, "lease_time", 0),
        "NameServers": list(_get(dhcp, "name_servers", []) or []),
        "TimeServers": list(_get(dhcp, "time_servers", []) or []),
        "VLANID": str(_get(dhcp, "vlan_id", "") or ""),
        "IfaceName": _get(dhcp, "iface_name", ""),
    }


def _go_netboot(netboot: Any) -> dict[str, Any] | None:
    if not isinstance(netboot, Mapping):
        return None
    ipxe = _get(netboot, "ipxe")
    osie = _get(netboot, "osie")
    return {
        "AllowPXE": _get(netboot, "allowPXE"),
        "AllowWorkflow": _get(netboot, "allowWorkflow"),
        "IPXE": {"URL": _get(ipxe, "url", ""), "Contents": _get(ipxe, "contents", "")}
        if isinstance(ipxe, Mapping)
        else None,
        "OSIE": {
            "BaseURL": _get(osie, "baseURL", ""),
            "Kernel": _get(osie, "kernel", ""),
            "Initrd": _get(osie, "initrd", ""),
        }
        if isinstance(osie, Mapping)
        else None,
    }


def _go_os(os_: Any) -> dict[str, Any] | None:
    if not isinstance(os_, Mapping):
        return None
    return {
        "Slug": _get(os_, "slug", ""),
        "Distro": _get(os_, "distro", ""),
        "Version": _get(os_, "version", ""),
        "ImageTag": _get(os_, "image_tag", ""),
        "OsSlug": _get(os_, "os_slug", ""),
    }


def _go_instance(instance: Any) -> dict[str, Any] | None:
    if not isinstance(instance, Mapping):
        return None
    return {
        "ID": _get(instance, "id", ""),
        "State": _get(instance, "state", ""),
        "Hostname": _get(instance, "hostname", ""),
        "AllowPxe": bool(_get(instance, "allow_pxe", False)),
        "Rescue": bool(_get(instance, "rescue", False)),
        "OperatingSystem": _go_os(_get(instance, "operating_system")),
        "AlwaysPxe": bool(_get(instance, "always_pxe", False)),
        "IpxeScriptURL": _get(instance, "ipxe_script_url", ""),
        "Ips": [
            {
                "Address": _get(ip, "address", ""),
                "Netmask": _get(ip, "netmask", ""),
                "Gateway": _get(ip, "gateway", ""),
                "Family": _get(ip, "family", 0),
                "Public": bool(_get(ip, "public", False)),
                "Management": bool(_get(ip, "management", False)),
            }
            for ip in _get(instance, "ips", []) or []
        ],
        "Userdata": _get(instance, "userdata", ""),
        "CryptedRootPassword": _get(instance, "crypted_root_password", ""),
        "Tags": list(_get(instance, "tags", []) or []),
        "SSHKeys": list(_get(instance, "ssh_keys", []) or []),
        "NetworkReady": bool(_get(instance, "network_ready", False)),
    }


def _go_metadata(metadata: Any) -> dict[str, Any]:
    metadata = metadata if isinstance(metadata, Mapping) else {}
    manufacturer = _get(metadata, "manufacturer")
    facility = _get(metadata, "facility")
    return {
        "State": _get(metadata, "state", ""),
        "BondingMode": _get(metadata, "bonding_mode", 0),
        "Manufacturer": {"ID": _get(manufacturer, "id", ""), "Slug": _get(manufacturer, "slug", "")}
        if isinstance(manufacturer, Mapping)
        else None,
        "Instance": _go_instance(_get(metadata, "instance")),
        "Custom": _get(metadata, "custom"),
        "Facility": {
            "PlanSlug": _get(facility, "plan_slug", ""),
            "PlanVersionSlug": _get(facility, "plan_version_slug", ""),
            "FacilityCode": _get(facility, "facility_code", ""),
        }
        if isinstance(facility, Mapping)
        else None,
    }


def template_data(
    hardware_document: Mapping[str, Any],
    hardware_map: Mapping[str, str],
    references: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """What a template sees, as Tinkerbell builds it from a Hardware document + hardware map
    (+ the objects its references name, by reference name)."""
    spec = _get(hardware_document, "spec", {}) or {}
    interfaces = [
        {
            "DHCP": _go_dhcp(_get(nic, "dhcp")),
            "Netboot": _go_netboot(_get(nic, "netboot")),
            "DisableDHCP": bool(_get(nic, "disableDhcp", False)),
        }
        for nic in _get(spec, "interfaces", []) or []
    ]
    hardware = {
        "Disks": [_get(disk, "device", "") for disk in _get(spec, "disks", []) or []],
        "Interfaces": interfaces,
        "UserData": _get(spec, "userData", "") or "",
        "VendorData": _get(spec, "vendorData", "") or "",
        "Metadata": _go_metadata(_get(spec, "metadata")),
    }
    return {
        **dict(hardware_map),
        "Hardware": hardware,
        "hardware": typed_hardware(hardware_document),
        "references": dict(references or {}),
    }


def template_data_for_machine(machine: Machine, hardware_map: Mapping[str, str]) -> dict[str, Any]:
    book = (machine.metadata or {}).get(RESERVED_KEY) or {}
    references = book.get(REFERENCE_DATA) if isinstance(book, dict) else None
    return template_data(hardware_document(machine=machine), hardware_map, references or {})


# The machine a template is checked against while it is written, before anyone picks a real
# one: a boot interface, a disk and instance metadata, as a typical Hardware document has them.
SAMPLE_MAC = "52:54:00:00:00:01"
SAMPLE_HARDWARE: dict[str, Any] = {
    "apiVersion": "tinkerbell.org/v1alpha1",
    "kind": "Hardware",
    "metadata": {"name": "sample", "namespace": "default"},
    "spec": {
        "disks": [{"device": "/dev/sda"}],
        "interfaces": [
            {
                "dhcp": {
                    "mac": SAMPLE_MAC,
                    "arch": "x86_64",
                    "uefi": True,
                    "hostname": "sample",
                    "ip": {
                        "address": "192.0.2.10",
                        "netmask": "255.255.255.0",
                        "gateway": "192.0.2.1",
                        "family": 4,
                    },
                    "name_servers": ["192.0.2.1"],
                    "lease_time": 86400,
                },
                "netboot": {"allowPXE": True, "allowWorkflow": True},
            }
        ],
        "metadata": {
            "instance": {
                "id": SAMPLE_MAC,
                "hostname": "sample",
                "operating_system": {
                    "slug": "ubuntu_24_04",
                    "distro": "ubuntu",
                    "version": "24.04",
                },
            }
        },
    },
}


def sample_template_data() -> dict[str, Any]:
    """What a template sees on the sample machine, device_1 being its boot MAC."""
    return template_data(SAMPLE_HARDWARE, {"device_1": SAMPLE_MAC})

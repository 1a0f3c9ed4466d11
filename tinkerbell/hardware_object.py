"""``.hardware`` as Tinkerbell's templates see it: the typed Hardware object, marshalled to JSON.

Tinkerbell decodes the Hardware into its Go structs and gives templates that struct by JSON
names. So fields the structs do not know are gone; zero values of ``omitempty`` fields are
dropped (false, 0, "", empty lists and maps, nil pointers); but struct-valued fields that are
not pointers are always there, empty as ``{}`` (``spec.auto``, ``status``), since Go's
``omitempty`` never drops a struct; and ``metadata.creationTimestamp`` is ``null`` when unset.

Each schema maps a JSON name to how Go marshals it:
  "s" / "i" / "b"   string / integer / bool with omitempty (zero value dropped)
  "p"               a pointer to a scalar (*bool, *string): kept when set, even to its zero
  "raw"             a map, slice or opaque value with omitempty (kept as it is unless empty)
  {...}             a pointer to a struct: dropped when absent, else marshalled by its schema
  ("list", {...})   a slice of structs, omitempty
  ("struct", {...}) a struct value: always present
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Schema = dict[str, Any]

_IP: Schema = {"address": "s", "netmask": "s", "gateway": "s", "family": "i"}
_DHCP: Schema = {
    "mac": "s",
    "hostname": "s",
    "domain_name": "s",
    "lease_time": "i",
    "name_servers": "raw",
    "time_servers": "raw",
    "arch": "s",
    "uefi": "b",
    "iface_name": "s",
    "ip": _IP,
    "vlan_id": "s",
    "classless_static_routes": "raw",
    "tftp_server_name": "s",
    "boot_file_name": "s",
}
_NETBOOT: Schema = {
    "allowPXE": "p",
    "allowWorkflow": "p",
    "ipxe": {"url": "s", "contents": "s", "binary": "s"},
    "osie": {"baseURL": "s", "kernel": "s", "initrd": "s", "kernelParams": "raw"},
    "pxelinux": {"config": "s"},
    "rpi": {"configTxt": "s", "firmwarePath": "s", "serialNum": "always-s"},
}
_INTERFACE: Schema = {
    "netboot": _NETBOOT,
    "isoboot": {"sourceISO": "s"},
    "dhcp": _DHCP,
    "disableDhcp": "b",
}
_OS: Schema = {"slug": "s", "distro": "s", "version": "s", "image_tag": "s", "os_slug": "s"}
_INSTANCE: Schema = {
    "id": "s",
    "state": "s",
    "hostname": "s",
    "allow_pxe": "b",
    "rescue": "b",
    "operating_system": _OS,
    "always_pxe": "b",
    "ipxe_script_url": "s",
    "ips": (
        "list",
        {
            "address": "s",
            "netmask": "s",
            "gateway": "s",
            "family": "i",
            "public": "b",
            "management": "b",
        },
    ),
    "userdata": "s",
    "crypted_root_password": "s",
    "tags": "raw",
    # Storage is deep and only ever read whole; its leaves are all omitempty.
    "storage": "raw",
    "ssh_keys": "raw",
    "network_ready": "b",
}
_METADATA: Schema = {
    "state": "s",
    "bonding_mode": "i",
    "manufacturer": {"id": "s", "slug": "s"},
    "instance": _INSTANCE,
    "custom": {"preinstalled_operating_system_version": _OS, "private_subnets": "raw"},
    "facility": {"plan_slug": "s", "plan_version_slug": "s", "facility_code": "s"},
}
_REFERENCE: Schema = {
    "namespace": "s",
    "name": "s",
    "group": "s",
    "version": "s",
    "resource": "s",
}
SPEC: Schema = {
    "agentID": "s",
    "auto": ("struct", None),
    "bmcRef": "raw",
    "interfaces": ("list", _INTERFACE),
    "references": ("map", _REFERENCE),
    "metadata": _METADATA,
    "tinkVersion": "i",
    "disks": ("list", {"device": "s"}),
    "resources": "raw",
    "userData": "p",
    "vendorData": "p",
}
STATUS: Schema = {"state": "s", "attributes": "raw"}
OBJECT_META: Schema = {
    "name": "s",
    "generateName": "s",
    "namespace": "s",
    "selfLink": "s",
    "uid": "s",
    "resourceVersion": "s",
    "generation": "i",
    "creationTimestamp": "always",
    "deletionTimestamp": "raw",
    "deletionGracePeriodSeconds": "raw",
    "labels": "raw",
    "annotations": "raw",
    "ownerReferences": "raw",
    "finalizers": "raw",
    "managedFields": "raw",
}


def _empty(value: Any) -> bool:
    return value is None or value is False or value == 0 or value in ("", [], {})


def _marshal(kind: Any, value: Any) -> tuple[bool, Any]:
    """(present, value) of one field as encoding/json writes it."""
    if kind == "always":
        return True, value
    if kind == "always-s":
        return True, value if value is not None else ""
    if kind == "p":
        return value is not None, value
    if kind in ("s", "i", "b", "raw"):
        return not _empty(value), value
    if isinstance(kind, dict):
        if not isinstance(value, Mapping):
            return False, None
        return True, marshal(kind, value)
    shape, inner = kind
    if shape == "struct":
        return True, dict(value) if isinstance(value, Mapping) else {}
    if shape == "map":
        if not isinstance(value, Mapping) or not value:
            return False, None
        return True, {
            k: marshal(inner, v if isinstance(v, Mapping) else {}) for k, v in value.items()
        }
    # a slice of structs
    if not isinstance(value, list) or not value:
        return False, None
    return True, [marshal(inner, item if isinstance(item, Mapping) else {}) for item in value]


def marshal(schema: Schema, value: Mapping[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, kind in schema.items():
        present, item = _marshal(kind, value.get(key))
        if present:
            result[key] = item
    return result


def typed_hardware(document: Mapping[str, Any]) -> dict[str, Any]:
    """The Hardware document as Tinkerbell's typed object marshals it."""
    typed: dict[str, Any] = {}
    for key in ("apiVersion", "kind"):
        if document.get(key):
            typed[key] = document[key]
    metadata = document.get("metadata")
    typed["metadata"] = marshal(OBJECT_META, metadata if isinstance(metadata, Mapping) else {})
    spec = document.get("spec")
    typed["spec"] = marshal(SPEC, spec if isinstance(spec, Mapping) else {})
    status = document.get("status")
    typed["status"] = marshal(STATUS, status if isinstance(status, Mapping) else {})
    return typed

"""Templates → workflows: the data Tinkerbell gives a template, rendering, and validation.

A template renders with the hardware map's keys at the top level (``.device_1``), ``.Hardware``
(Disks as device paths, Interfaces/Metadata shaped as Tinkerbell's Go structs, UserData,
VendorData) and ``.hardware`` (the machine as a Tinkerbell Hardware document). Problems in the
rendered YAML are reported at the template line they come from.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from workflows.gotemplate import Template as GoTemplate
from workflows.gotemplate import TemplateError
from workflows.spec import SpecError, WorkflowSpec, parse_workflow

if TYPE_CHECKING:
    from inventory.models import Machine


@dataclass
class TemplateProblem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


class TemplateRenderError(Exception):
    def __init__(self, problems: list[TemplateProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))


@dataclass
class RenderedWorkflow:
    text: str
    spec: WorkflowSpec

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def global_timeout(self) -> int:
        return self.spec.global_timeout

    @property
    def tasks(self) -> list[Any]:
        return self.spec.tasks

    def as_json(self) -> dict[str, Any]:
        return self.spec.as_json()


# --- the data a template sees --------------------------------------------------------------


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
    hardware_document: Mapping[str, Any], hardware_map: Mapping[str, str]
) -> dict[str, Any]:
    """What a template sees, as Tinkerbell builds it from a Hardware document + hardware map."""
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
    return {**dict(hardware_map), "Hardware": hardware, "hardware": dict(hardware_document)}


# --- rendering -------------------------------------------------------------------------------


def _template_position(origins: list[tuple[int, int]], line: int, column: int) -> tuple[int, int]:
    """Where rendered (line, column) came from in the template (best effort for mixed lines)."""
    if 1 <= line <= len(origins):
        origin_line, origin_column = origins[line - 1]
        return origin_line, origin_column + column - 1
    return line, column


def render_workflow(
    body: str, data: Mapping[str, Any], *, name: str = "template"
) -> RenderedWorkflow:
    """Render a template body and validate the workflow it produces."""
    try:
        template = GoTemplate(body, name=name)
        text, origins = template.render_with_origins(data)
    except TemplateError as exc:
        raise TemplateRenderError(
            [TemplateProblem(exc.line or 1, exc.column or 1, exc.message)]
        ) from exc
    try:
        spec = parse_workflow(text)
    except SpecError as exc:
        problems = []
        for problem in exc.problems:
            line, column = _template_position(origins, problem.line, problem.column)
            problems.append(TemplateProblem(line, column, problem.message))
        raise TemplateRenderError(problems) from exc
    return RenderedWorkflow(text=text, spec=spec)


def render_for_machine(
    *, body: str, machine: Machine, hardware_map: Mapping[str, str]
) -> RenderedWorkflow:
    from inventory.importers.tinkerbell import hardware_document

    data = template_data(hardware_document(machine=machine), hardware_map)
    return render_workflow(body, data)


def check_template_syntax(body: str, *, name: str = "template") -> list[TemplateProblem]:
    """Parse errors of a template body (rendering needs a machine; this does not)."""
    try:
        GoTemplate(body, name=name)
    except TemplateError as exc:
        return [TemplateProblem(exc.line or 1, exc.column or 1, exc.message)]
    return []

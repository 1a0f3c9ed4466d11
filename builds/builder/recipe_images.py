"""Checks of one onboot/onshutdown/services entry: its keys, capabilities, binds, mounts and the
``runtime`` section LinuxKit's init reads, each problem with its line and column.

What is checked here is what ``linuxkit build`` would refuse later (an unknown capability, a bind
without ``:``, a mount whose type cannot be inferred, a volume that does not exist), so a recipe
that passes builds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from builds.builder.recipe_yaml import Checker, Node

IMAGE_KEYS = {
    "name",
    "image",
    "capabilities",
    "capabilities.add",
    "ambient",
    "mounts",
    "binds",
    "binds.add",
    "tmpfs",
    "command",
    "env",
    "cwd",
    "net",
    "pid",
    "ipc",
    "uts",
    "userns",
    "readonly",
    "maskedPaths",
    "readonlyPaths",
    "uid",
    "gid",
    "additionalGids",
    "noNewPrivileges",
    "hostname",
    "oomScoreAdj",
    "rootfsPropagation",
    "cgroupsPath",
    "resources",
    "sysctl",
    "rlimits",
    "uidMappings",
    "gidMappings",
    "annotations",
    "runtime",
    "devices",
    "platforms",
}
MOUNT_KEYS = {"destination", "type", "source", "options"}
RUNTIME_KEYS = {"cgroups", "mounts", "mkdir", "interfaces", "bindNS", "namespace"}
INTERFACE_KEYS = {"name", "add", "peer", "createInRoot"}
NAMESPACE_NAMES = {"cgroup", "ipc", "mnt", "net", "pid", "user", "uts"}
DEVICE_KEYS = {"path", "type", "major", "minor", "mode"}
STRING_LISTS = {
    "capabilities",
    "capabilities.add",
    "ambient",
    "binds",
    "binds.add",
    "tmpfs",
    "command",
    "env",
    "maskedPaths",
    "readonlyPaths",
    "rlimits",
    "platforms",
}
STRINGS = {"cwd", "net", "pid", "ipc", "uts", "userns", "hostname", "rootfsPropagation"}
ALL_CAPABILITIES = [
    "CAP_AUDIT_CONTROL", "CAP_AUDIT_READ", "CAP_AUDIT_WRITE", "CAP_BLOCK_SUSPEND", "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER", "CAP_FSETID", "CAP_IPC_LOCK", "CAP_IPC_OWNER", "CAP_KILL", "CAP_LEASE",
    "CAP_LINUX_IMMUTABLE", "CAP_MAC_ADMIN", "CAP_MAC_OVERRIDE", "CAP_MKNOD", "CAP_NET_ADMIN",
    "CAP_NET_BIND_SERVICE", "CAP_NET_BROADCAST", "CAP_NET_RAW", "CAP_PERFMON", "CAP_SETFCAP",
    "CAP_SETGID", "CAP_SETPCAP", "CAP_SETUID", "CAP_SYSLOG", "CAP_SYS_ADMIN", "CAP_SYS_BOOT",
    "CAP_SYS_CHROOT", "CAP_SYS_MODULE", "CAP_SYS_NICE", "CAP_SYS_PACCT", "CAP_SYS_PTRACE",
    "CAP_SYS_RAWIO", "CAP_SYS_RESOURCE", "CAP_SYS_TIME", "CAP_SYS_TTY_CONFIG", "CAP_WAKE_ALARM",
]  # fmt: skip
# A mount may leave out its type when the source names it, and its destination when the type
# has a usual place (LinuxKit's rules).
TYPED_SOURCES = {"mqueue", "devpts", "proc", "sysfs", "cgroup"}
DEFAULT_MOUNTPOINTS = {
    "proc": "/proc",
    "devpts": "/dev/pts",
    "sysfs": "/sys",
    "cgroup": "/sys/fs/cgroup",
    "mqueue": "/dev/mqueue",
}


@dataclass
class ImageSpec:
    """One onboot/onshutdown/services entry; ``options`` holds the LinuxKit keys as written."""

    name: str
    image: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class VolumeRef:
    """A bind whose source names a top-level volume, kept to check once volumes are known."""

    node: Node
    volume: str
    read_only: bool


def parse_images(check: Checker, node: Node, kind: str, volume_refs: list[VolumeRef]):
    if not isinstance(node.value, list):
        check.problem(node, f"{kind} must be a list")
        return []
    images: list[ImageSpec] = []
    seen: set[str] = set()
    for item in node.value:
        entry = check.mapping(item, f"{kind} entry")
        if entry is None:
            continue
        name = check.string(entry["name"][1], f"{kind} name") if "name" in entry else None
        where = f"{kind} '{name}'" if name else f"{kind} entry"
        check.unknown_keys(entry, IMAGE_KEYS, where)
        for required in ("name", "image"):
            if required not in entry:
                check.problem(item, f"{where}: missing '{required}'")
        if name and name in seen:
            check.problem(entry["name"][1], f"{kind}: duplicate name '{name}'")
        if name:
            seen.add(name)
        image = (
            check.image_reference(entry["image"][1], f"{where} image") if "image" in entry else ""
        )
        options = _options(check, entry, where, volume_refs)
        images.append(ImageSpec(name=name or "", image=image, options=options))
    return images


def _options(
    check: Checker, entry: dict[str, tuple[Node, Node]], where: str, volume_refs: list[VolumeRef]
) -> dict[str, Any]:
    options: dict[str, Any] = {}
    for key, (_, value) in entry.items():
        if key in ("name", "image") or key not in IMAGE_KEYS:
            continue
        if key in STRING_LISTS:
            options[key] = check.string_list(value, f"{where} {key}")
        elif key in STRINGS:
            options[key] = check.string(value, f"{where} {key}")
        elif key in ("readonly", "noNewPrivileges"):
            options[key] = check.boolean(value, f"{where} {key}")
        elif key == "mounts":
            options[key] = _mounts(check, value, where, volume_refs)
        elif key == "runtime":
            options[key] = _runtime(check, value, where)
        elif key == "devices":
            options[key] = _devices(check, value, where)
        else:
            options[key] = value.plain()
    for key in ("capabilities", "capabilities.add", "ambient"):
        if key in entry:
            _capabilities(check, entry[key][1], f"{where} {key}")
    for key in ("binds", "binds.add"):
        if key in entry and isinstance(entry[key][1].value, list):
            for item in entry[key][1].value:
                _bind(check, item, f"{where} {key}", volume_refs)
    if "tmpfs" in entry and isinstance(entry["tmpfs"][1].value, list):
        for item in entry["tmpfs"][1].value:
            if isinstance(item.value, str) and item.value.count(":") > 1:
                check.problem(item, f"{where} tmpfs: '{item.value}' has more than one ':'")
    return options


def _capabilities(check: Checker, node: Node, where: str) -> None:
    if not isinstance(node.value, list):
        return
    names = [item.value for item in node.value]
    if len(names) == 1 and isinstance(names[0], str) and names[0].lower() in ("all", "none"):
        return
    for item in node.value:
        if isinstance(item.value, str) and item.value not in ALL_CAPABILITIES:
            upper = item.value.upper()
            suggestion = upper if upper.startswith("CAP_") else f"CAP_{upper}"
            hint = f" (did you mean {suggestion}?)" if suggestion in ALL_CAPABILITIES else ""
            check.problem(item, f"{where}: unknown capability '{item.value}'{hint}")


def _bind(check: Checker, item: Node, where: str, volume_refs: list[VolumeRef]) -> None:
    if not isinstance(item.value, str):
        return
    parts = item.value.split(":")
    if len(parts) < 2:
        check.problem(item, f"{where}: '{item.value}' needs SOURCE:DESTINATION[:OPTIONS]")
    elif len(parts) > 3:
        check.problem(item, f"{where}: '{item.value}' has too many ':'")
    elif not parts[0].startswith("/"):
        volume_refs.append(VolumeRef(item, parts[0], len(parts) == 3 and parts[2] == "ro"))


def _mounts(
    check: Checker, node: Node, where: str, volume_refs: list[VolumeRef]
) -> list[dict[str, Any]]:
    if not isinstance(node.value, list):
        check.problem(node, f"{where} mounts must be a list")
        return []
    mounts = []
    for item in node.value:
        mount = check.mapping(item, f"{where} mount")
        if mount is None:
            continue
        check.unknown_keys(mount, MOUNT_KEYS, f"{where} mount")
        plain = item.plain()
        kind = plain.get("type") or (plain.get("source") in TYPED_SOURCES and plain["source"])
        if not kind and plain.get("destination") == "/dev":
            kind = "tmpfs"
        if not kind:
            check.problem(item, f"{where} mount: missing 'type' (it cannot be inferred)")
        elif not plain.get("destination") and kind not in DEFAULT_MOUNTPOINTS:
            check.problem(item, f"{where} mount: missing 'destination' for type '{kind}'")
        source = plain.get("source")
        if kind == "bind" and isinstance(source, str) and not source.startswith("/"):
            options = plain.get("options") or []
            read_only = "ro" in options and options.index("ro") < _index(options, "rw")
            volume_refs.append(VolumeRef(item, source, read_only))
        mounts.append(plain)
    return mounts


def _index(values: list[str], wanted: str) -> int:
    return values.index(wanted) if wanted in values else len(values)


def _runtime(check: Checker, node: Node, where: str) -> dict[str, Any]:
    runtime = check.mapping(node, f"{where} runtime")
    if runtime is None:
        return {}
    check.unknown_keys(runtime, RUNTIME_KEYS, f"{where} runtime")
    for key in ("cgroups", "mkdir"):
        if key in runtime:
            check.string_list(runtime[key][1], f"{where} runtime {key}")
    if "mounts" in runtime:
        _mounts(check, runtime["mounts"][1], f"{where} runtime", [])
    if "namespace" in runtime:
        check.string(runtime["namespace"][1], f"{where} runtime namespace")
    if "bindNS" in runtime:
        namespaces = check.mapping(runtime["bindNS"][1], f"{where} runtime bindNS")
        if namespaces is not None:
            check.unknown_keys(namespaces, NAMESPACE_NAMES, f"{where} runtime bindNS")
            for _, value in namespaces.values():
                check.string(value, f"{where} runtime bindNS path")
    if "interfaces" in runtime:
        interfaces = runtime["interfaces"][1]
        if not isinstance(interfaces.value, list):
            check.problem(interfaces, f"{where} runtime interfaces must be a list")
        else:
            for item in interfaces.value:
                interface = check.mapping(item, f"{where} runtime interface")
                if interface is not None:
                    check.unknown_keys(interface, INTERFACE_KEYS, f"{where} runtime interface")
    return node.plain()


def _devices(check: Checker, node: Node, where: str) -> list[dict[str, Any]]:
    if not isinstance(node.value, list):
        check.problem(node, f"{where} devices must be a list")
        return []
    for item in node.value:
        device = check.mapping(item, f"{where} device")
        if device is None:
            continue
        check.unknown_keys(device, DEVICE_KEYS, f"{where} device")
        path = device["path"][1].value if "path" in device else None
        if path is None:
            check.problem(item, f"{where} device: missing 'path'")
        elif path != "all":
            mode = str(device["mode"][1].text or "") if "mode" in device else ""
            try:
                int(mode, 8)
            except ValueError:
                check.problem(item, f"{where} device {path}: mode '{mode}' is not octal")
    return node.plain()

"""LinuxKit's filesystem layout: where each container goes and the two files its init reads.

Onboot and onshutdown containers live at ``containers/<kind>/<NNN>-<name>`` (numbered so init
runs them in order), services at ``containers/services/<name>``, volumes at
``containers/volumes/<name>``. Each container bundle holds ``config.json`` (the OCI runtime
spec runc gets) and ``runtime.json`` (what LinuxKit's init does before starting it: mounts,
``mkdir``, interfaces, namespaces to bind). The derivation follows LinuxKit's ``ConfigToOCI``:
the image's config, then its ``org.mobyproject.config`` label, then the recipe's keys, each
overriding the one before.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from builds.builder.recipe_images import (
    ALL_CAPABILITIES,
    DEFAULT_MOUNTPOINTS,
    TYPED_SOURCES,
    ImageSpec,
)

IMAGE_LABEL = "org.mobyproject.config"
VOLUMES_ROOT = "containers/volumes"
UNLIMITED = 2**64 - 1
RLIMITS = {
    "RLIMIT_CPU", "RLIMIT_FSIZE", "RLIMIT_DATA", "RLIMIT_STACK", "RLIMIT_CORE", "RLIMIT_RSS",
    "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_MEMLOCK", "RLIMIT_AS", "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING", "RLIMIT_MSGQUEUE", "RLIMIT_NICE", "RLIMIT_RTPRIO", "RLIMIT_RTTIME",
}  # fmt: skip
BIND_NAMESPACES = ("cgroup", "ipc", "mnt", "net", "pid", "user", "uts")


class ConfigError(Exception):
    """The image's label or the recipe asks for something runc cannot be given."""


@dataclass
class ContainerConfig:
    config: dict[str, Any]
    runtime: dict[str, Any]

    @property
    def readonly(self) -> bool:
        return bool(self.config["root"].get("readonly"))


def bundle_path(kind: str, position: int, name: str) -> str:
    if kind == "services":
        return f"containers/services/{name}"
    return f"containers/{kind}/{position:03d}-{name}"


def volume_merged_dir(name: str) -> str:
    return f"/{VOLUMES_ROOT}/{name}/merged"


def encode(document: dict[str, Any]) -> bytes:
    """JSON as LinuxKit writes it (four-space indent)."""
    return json.dumps(document, indent=4).encode()


def image_label(spec_name: str, image_config: dict[str, Any]) -> dict[str, Any]:
    config = image_config.get("config") or {}
    text = (config.get("Labels") or {}).get(IMAGE_LABEL)
    if not text:
        return {}
    try:
        label = json.loads(text)
    except ValueError as exc:
        raise ConfigError(f"{spec_name}: the image's {IMAGE_LABEL} label is not JSON") from exc
    if not isinstance(label, dict):
        raise ConfigError(f"{spec_name}: the image's {IMAGE_LABEL} label is not an object")
    return label


def _pick(key: str, label: dict[str, Any], options: dict[str, Any], default: Any = None) -> Any:
    """The recipe's value, else the label's, else ``default`` (LinuxKit's ordered override)."""
    if options.get(key) is not None:
        return options[key]
    if label.get(key) is not None:
        return label[key]
    return default


def _first_set(*values: str | None) -> str:
    for value in reversed(values):
        if value:
            return value
    return ""


def with_volumes(options: dict[str, Any]) -> dict[str, Any]:
    """Binds and bind mounts whose source is a volume name point at the volume's merged dir."""
    result = dict(options)
    for key in ("binds", "binds.add"):
        if key in result:
            binds = []
            for bind in result[key]:
                source, _, rest = bind.partition(":")
                if not source.startswith("/"):
                    bind = f"{volume_merged_dir(source)}:{rest}"
                binds.append(bind)
            result[key] = binds
    if "mounts" in result:
        mounts = []
        for mount in result["mounts"]:
            source = mount.get("source")
            if mount.get("type") == "bind" and source and not source.startswith("/"):
                mount = {**mount, "source": volume_merged_dir(source)}
            mounts.append(mount)
        result["mounts"] = mounts
    return result


def container_config(
    spec: ImageSpec, image_config: dict[str, Any], ids: dict[str, int]
) -> ContainerConfig:
    """The OCI spec (config.json) and LinuxKit runtime config (runtime.json) of one container."""
    config = image_config.get("config") or {}
    label = image_label(spec.name, image_config)
    options = with_volumes(spec.options)
    readonly = bool(_pick("readonly", label, options, False))
    caps, ambient, bounding = _capabilities(label, options)
    oci: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": {
            "user": _user(label, options, ids),
            "args": _pick(
                "command",
                label,
                options,
                [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])],
            ),
            "env": _pick("env", label, options, config.get("Env") or []),
            "cwd": _first_set("/", config.get("WorkingDir"), label.get("cwd"), options.get("cwd")),
            "capabilities": _omit_empty(
                {
                    "bounding": bounding,
                    "effective": caps,
                    "inheritable": bounding,
                    "permitted": bounding,
                    "ambient": ambient,
                }
            ),
        },
        "root": {"path": "rootfs", **({"readonly": True} if readonly else {})},
        "mounts": _mounts(label, options, readonly),
        "linux": _linux(label, options),
    }
    process = oci["process"]
    rlimits = _rlimits(_pick("rlimits", label, options, []))
    if rlimits:
        process["rlimits"] = rlimits
    if _pick("noNewPrivileges", label, options, False):
        process["noNewPrivileges"] = True
    if _pick("oomScoreAdj", label, options) is not None:
        process["oomScoreAdj"] = _pick("oomScoreAdj", label, options)
    hostname = _first_set(label.get("hostname"), options.get("hostname"))
    if hostname:
        oci["hostname"] = hostname
    annotations = _pick("annotations", label, options, {})
    if annotations:
        oci["annotations"] = annotations
    return ContainerConfig(oci, _runtime(label.get("runtime"), options.get("runtime")))


def _omit_empty(values: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value}


def _capability_list(names: list[str]) -> list[str]:
    if len(names) == 1 and names[0].lower() == "none":
        return []
    if len(names) == 1 and names[0].lower() == "all":
        return list(ALL_CAPABILITIES)
    unknown = [name for name in names if name not in ALL_CAPABILITIES]
    if unknown:
        raise ConfigError(f"unknown capability: {unknown[0]}")
    return list(names)


def _capabilities(
    label: dict[str, Any], options: dict[str, Any]
) -> tuple[list[str], list[str], list[str]]:
    if options.get("capabilities") is not None:
        names = options["capabilities"]
    else:
        names = [*(label.get("capabilities") or []), *(options.get("capabilities.add") or [])]
    caps = _capability_list(names)
    ambient = _capability_list(_pick("ambient", label, options, []))
    return caps, ambient, sorted(set(caps) | set(ambient))


def _numeric_id(value: Any, ids: dict[str, int]) -> int:
    if value is None or value in ("", "root"):
        return 0
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value in ids:
        return ids[value]
    raise ConfigError(f"cannot find id: {value}")


def _user(label: dict[str, Any], options: dict[str, Any], ids: dict[str, int]) -> dict[str, Any]:
    user: dict[str, Any] = {
        "uid": _numeric_id(_pick("uid", label, options), ids),
        "gid": _numeric_id(_pick("gid", label, options), ids),
    }
    groups = [_numeric_id(g, ids) for g in _pick("additionalGids", label, options, [])]
    if groups:
        user["additionalGids"] = groups
    return user


def _mounts(label: dict[str, Any], options: dict[str, Any], readonly: bool) -> list[dict]:
    ro = ["ro"] if readonly else []
    mounts: dict[str, dict[str, Any]] = {
        "/proc": _mount("/proc", "proc", "proc", ["nosuid", "nodev", "noexec", "relatime"]),
        "/dev": _mount(
            "/dev", "tmpfs", "tmpfs", ["nosuid", "strictatime", "mode=755", "size=65536k", *ro]
        ),
        "/dev/pts": _mount(
            "/dev/pts",
            "devpts",
            "devpts",
            ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
        ),
        "/sys": _mount("/sys", "sysfs", "sysfs", ["nosuid", "noexec", "nodev", *ro]),
        "/sys/fs/cgroup": _mount(
            "/sys/fs/cgroup", "cgroup", "cgroup", ["nosuid", "noexec", "nodev", "relatime", "ro"]
        ),
    }
    for tmpfs in _pick("tmpfs", label, options, []):
        destination, _, extra = tmpfs.partition(":")
        mounts[destination] = _mount(
            destination, "tmpfs", "tmpfs", extra.split(",") if extra else None
        )
    if options.get("binds") is not None:
        binds = options["binds"]
    else:
        binds = [*(label.get("binds") or []), *(options.get("binds.add") or [])]
    for bind in binds:
        parts = bind.split(":")
        if not 2 <= len(parts) <= 3:
            raise ConfigError(f"cannot parse bind '{bind}'")
        bind_options = (
            [*parts[2].split(","), "rbind"] if len(parts) == 3 else ["rw", "rbind", "rshared"]
        )
        mounts[parts[1]] = _mount(parts[1], "bind", parts[0], bind_options)
    for mount in _pick("mounts", label, options, []):
        source, destination = mount.get("source") or "", mount.get("destination") or ""
        kind = mount.get("type") or (source if source in TYPED_SOURCES else "")
        if not kind and destination == "/dev":
            kind = "tmpfs"
        if not kind:
            raise ConfigError(f"mount for destination {destination} is missing type")
        destination = destination or DEFAULT_MOUNTPOINTS.get(kind, "")
        if not destination:
            raise ConfigError(f"mount type {kind} is missing destination")
        mounts[destination] = _mount(destination, kind, source or kind, mount.get("options"))
    return [mounts[destination] for destination in sorted(mounts)]


def _mount(
    destination: str, kind: str | None, source: str | None, options: list[str] | None
) -> dict[str, Any]:
    mount: dict[str, Any] = {"destination": destination}
    if kind:
        mount["type"] = kind
    if source:
        mount["source"] = source
    if options:
        mount["options"] = list(options)
    return mount


def _namespace(kind: str, value: str) -> dict[str, str]:
    path = "" if value in ("", "new", "none") else value
    return {"type": kind, "path": path} if path else {"type": kind}


def _namespaces(label: dict[str, Any], options: dict[str, Any]) -> list[dict[str, str]]:
    namespaces = []
    # net, ipc, uts and user default to the host's; pid to a new one.
    for key, kind in (("net", "network"), ("ipc", "ipc"), ("uts", "uts")):
        value = _first_set("root", label.get(key), options.get(key))
        if value not in ("host", "root"):
            namespaces.append(_namespace(kind, value))
    pid = _first_set(label.get("pid"), options.get("pid"))
    if pid not in ("host", "root"):
        namespaces.append(_namespace("pid", pid))
    userns = _first_set("root", label.get("userns"), options.get("userns"))
    if userns not in ("host", "root"):
        namespaces.append(_namespace("user", userns))
    namespaces += [{"type": "mount"}, {"type": "cgroup"}]
    return namespaces


def _linux(label: dict[str, Any], options: dict[str, Any]) -> dict[str, Any]:
    resources = dict(_pick("resources", label, options, {}))
    device_rules = list(resources.get("devices") or [])
    devices = []
    for device in _pick("devices", label, options, []):
        if device.get("path") == "all":
            device_rules.append({"allow": True, "type": device.get("type", ""), "access": "rwm"})
            continue
        try:
            mode = int(str(device.get("mode", "")), 8)
        except ValueError as exc:
            raise ConfigError(f"device {device.get('path')}: mode is not octal") from exc
        major, minor = int(device.get("major", 0)), int(device.get("minor", 0))
        kind = device.get("type", "")
        devices.append(
            {"path": device["path"], "type": kind, "major": major, "minor": minor, "fileMode": mode}
        )
        device_rules.append(
            {"allow": True, "type": kind, "major": major, "minor": minor, "access": "rwm"}
        )
    if device_rules:
        resources["devices"] = device_rules
    linux: dict[str, Any] = {
        "resources": resources,
        "namespaces": _namespaces(label, options),
    }
    optional = {
        "uidMappings": _pick("uidMappings", label, options, []),
        "gidMappings": _pick("gidMappings", label, options, []),
        "sysctl": _pick("sysctl", label, options, {}),
        "cgroupsPath": _pick("cgroupsPath", label, options, ""),
        "devices": devices,
        "rootfsPropagation": _pick("rootfsPropagation", label, options, ""),
        "maskedPaths": _pick("maskedPaths", label, options, []),
        "readonlyPaths": _pick("readonlyPaths", label, options, []),
    }
    linux.update(_omit_empty(optional))
    return linux


def _rlimits(values: list[str]) -> list[dict[str, Any]]:
    rlimits = []
    for text in values:
        parts = [part.strip() for part in text.split(",", 2)]
        if len(parts) != 3:
            raise ConfigError(f"cannot parse rlimit: {text}")
        kind = parts[0].upper()
        kind = kind if kind.startswith("RLIMIT_") else f"RLIMIT_{kind}"
        if kind not in RLIMITS:
            raise ConfigError(f"unknown limit: {parts[0]}")
        soft, hard = (UNLIMITED if p.lower() == "unlimited" else _uint(p) for p in parts[1:])
        rlimits.append({"type": kind, "hard": hard, "soft": soft})
    return rlimits


def _uint(text: str) -> int:
    try:
        value = int(text, 10)
    except ValueError as exc:
        raise ConfigError(f"cannot parse {text} as a number") from exc
    if value < 0:
        raise ConfigError(f"cannot parse {text} as an unsigned number")
    return value


def _runtime(label: dict[str, Any] | None, recipe: dict[str, Any] | None) -> dict[str, Any]:
    """LinuxKit's runtime config: each field from the recipe, else the label, else empty."""
    label, recipe = label or {}, recipe or {}
    runtime: dict[str, Any] = {
        key: _pick(key, label, recipe, []) for key in ("cgroups", "mounts", "mkdir", "interfaces")
    }
    label_ns, recipe_ns = label.get("bindNS") or {}, recipe.get("bindNS") or {}
    runtime["interfaces"] = [
        {**interface, "createInRoot": bool(interface.get("createInRoot", False))}
        for interface in runtime["interfaces"]
    ]
    runtime["bindNS"] = {ns: _pick(ns, label_ns, recipe_ns, "") for ns in BIND_NAMESPACES}
    runtime["namespace"] = _pick("namespace", label, recipe, "")
    return runtime


def rootfs_mounts(bundle: str, root: str, readonly: bool) -> list[dict[str, Any]]:
    """The mounts LinuxKit's init makes before runc starts the container: a read-only container
    binds its root files at ``rootfs``; any other gets an overlay with a tmpfs upper layer, so
    what it writes never touches the image's files (which may be shared with another)."""
    if readonly:
        return [{"destination": f"/{bundle}/rootfs", "source": f"/{root}", "options": ["bind"]}]
    tmp = f"/{bundle}/tmp"
    return [
        {"destination": tmp, "type": "tmpfs", "source": "tmpfs"},
        {"destination": tmp, "options": ["remount", "private"]},
        {
            "destination": f"/{bundle}/rootfs",
            "type": "overlay",
            "source": "overlay",
            "options": [f"lowerdir=/{root}", f"upperdir={tmp}/upper", f"workdir={tmp}/work"],
        },
    ]

"""LinuxKit's filesystem layout: bundle paths and the OCI runtime config of each container.

LinuxKit puts onboot and onshutdown containers at ``containers/<kind>/<NNN>-<name>`` (numbered
so init runs them in order) and services at ``containers/services/<name>``; each bundle holds
``rootfs/`` and ``config.json``.
"""

from __future__ import annotations

import contextlib
import json
from typing import Any

from builds.builder.recipe import ImageSpec

# Docker's default capability set, which LinuxKit also uses when an image names none.
DEFAULT_CAPABILITIES = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
]
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
DEFAULT_MOUNTS: list[dict[str, Any]] = [
    {
        "destination": "/proc",
        "type": "proc",
        "source": "proc",
        "options": ["nosuid", "noexec", "nodev"],
    },
    {
        "destination": "/dev",
        "type": "tmpfs",
        "source": "tmpfs",
        "options": ["nosuid", "strictatime", "mode=755", "size=65536k"],
    },
    {
        "destination": "/dev/pts",
        "type": "devpts",
        "source": "devpts",
        "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620"],
    },
    {
        "destination": "/sys",
        "type": "sysfs",
        "source": "sysfs",
        "options": ["nosuid", "noexec", "nodev", "ro"],
    },
]
NAMESPACE_KEYS = {"pid": "pid", "net": "network", "ipc": "ipc", "uts": "uts"}
IMAGE_LABEL = "org.mobyproject.config"


def bundle_path(kind: str, position: int, name: str) -> str:
    if kind == "services":
        return f"containers/services/{name}"
    return f"containers/{kind}/{position:03d}-{name}"


def _capabilities(names: list[str]) -> list[str]:
    result: list[str] = []
    for name in names:
        if name.lower() == "all":
            return list(ALL_CAPABILITIES)
        cap = name.upper()
        result.append(cap if cap.startswith("CAP_") else f"CAP_{cap}")
    return result


def _bind(spec: str) -> dict[str, Any]:
    parts = spec.split(":")
    source, destination = parts[0], parts[1] if len(parts) > 1 else parts[0]
    options = ["rbind", "rprivate"]
    options += parts[2].split(",") if len(parts) > 2 else ["rw"]
    return {"destination": destination, "type": "bind", "source": source, "options": options}


def _options(spec: ImageSpec, config: dict[str, Any]) -> dict[str, Any]:
    """The image's ``org.mobyproject.config`` label, overridden by the recipe's keys."""
    options: dict[str, Any] = {}
    label = (config.get("Labels") or {}).get(IMAGE_LABEL)
    if label:
        # A malformed label is the image's problem; LinuxKit ignores it the same way.
        with contextlib.suppress(ValueError):
            options.update(json.loads(label))
    options.update(spec.options)
    return options


def _environment(options: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The image's Env with the recipe's variables replacing those of the same name."""
    env = list(config.get("Env") or [])
    for variable in options.get("env", []):
        key = variable.split("=", 1)[0]
        env = [e for e in env if e.split("=", 1)[0] != key] + [variable]
    if not any(e.startswith("PATH=") for e in env):
        env.insert(0, "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin")
    return env


def _namespaces(options: dict[str, Any]) -> list[dict[str, str]]:
    namespaces: list[dict[str, str]] = [{"type": "mount"}]
    for key, kind in NAMESPACE_KEYS.items():
        value = options.get(key) or ""
        if value == "host":
            continue  # shares the host's namespace
        namespaces.append(
            {"type": kind, "path": value} if value.startswith("/") else {"type": kind}
        )
    if options.get("userns"):
        namespaces.append({"type": "user", "path": options["userns"]})
    return namespaces


def _mounts(options: dict[str, Any]) -> list[dict[str, Any]]:
    """The default mounts, then the recipe's mounts, binds and tmpfs (a later one replaces an
    earlier one at the same destination)."""
    mounts = [dict(m) for m in DEFAULT_MOUNTS]
    for mount in options.get("mounts", []):
        mounts = [m for m in mounts if m["destination"] != mount.get("destination")]
        mounts.append(dict(mount))
    for bind in [*options.get("binds", []), *options.get("binds.add", [])]:
        bound = _bind(bind)
        mounts = [m for m in mounts if m["destination"] != bound["destination"]]
        mounts.append(bound)
    for tmpfs in options.get("tmpfs", []):
        destination, _, extra = tmpfs.partition(":")
        mounts.append(
            {
                "destination": destination,
                "type": "tmpfs",
                "source": "tmpfs",
                "options": extra.split(",") if extra else ["nosuid", "nodev"],
            }
        )
    return mounts


def _linux(options: dict[str, Any]) -> dict[str, Any]:
    linux: dict[str, Any] = {
        "namespaces": _namespaces(options),
        "maskedPaths": options.get("maskedPaths", []),
        "readonlyPaths": options.get("readonlyPaths", []),
    }
    for key in ("rootfsPropagation", "sysctl", "resources", "cgroupsPath", "devices"):
        if options.get(key):
            linux[key] = options[key]
    return linux


def _process(options: dict[str, Any], config: dict[str, Any]) -> dict[str, Any]:
    capabilities = _capabilities(options.get("capabilities") or DEFAULT_CAPABILITIES)
    process: dict[str, Any] = {
        "terminal": False,
        "user": {"uid": _int(options.get("uid")), "gid": _int(options.get("gid"))},
        "args": options.get("command")
        or [*(config.get("Entrypoint") or []), *(config.get("Cmd") or [])],
        "env": _environment(options, config),
        "cwd": options.get("cwd") or config.get("WorkingDir") or "/",
        "capabilities": {
            "bounding": capabilities,
            "effective": capabilities,
            "permitted": capabilities,
            "inheritable": capabilities,
            "ambient": _capabilities(options.get("ambient") or []),
        },
        "noNewPrivileges": bool(options.get("noNewPrivileges", False)),
    }
    if "oomScoreAdj" in options:
        process["oomScoreAdj"] = options["oomScoreAdj"]
    return process


def runtime_config(spec: ImageSpec, image_config: dict[str, Any]) -> dict[str, Any]:
    """The OCI runtime config.json for one container, as LinuxKit derives it.

    Defaults come from the image (its Entrypoint/Cmd/Env/WorkingDir and the
    ``org.mobyproject.config`` label LinuxKit images carry); the recipe's keys override them.
    """
    config = image_config.get("config") or {}
    options = _options(spec, config)
    result: dict[str, Any] = {
        "ociVersion": "1.0.2",
        "process": _process(options, config),
        "root": {"path": "rootfs", "readonly": bool(options.get("readonly", False))},
        "hostname": options.get("hostname") or "",
        "mounts": _mounts(options),
        "linux": _linux(options),
    }
    if options.get("annotations"):
        result["annotations"] = options["annotations"]
    return result


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0

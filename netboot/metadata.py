"""EC2-style instance metadata (``/2009-04-04/meta-data/...``) built from the inventory.

The tree follows EC2's layout: a directory answers with its entries one per line, a
subdirectory's name ending in ``/``, no trailing newline; a leaf answers with its value.
Keys with no value are left out of the listings, as EC2 leaves out what an instance lacks.
Values come from the Tinkerbell-shaped ``Machine.metadata`` first, the inventory second.
"""

from __future__ import annotations

from typing import Any

from inventory.models import Machine, NetworkInterface
from rackpilot.core.json_shapes import as_object

Tree = dict[str, Any]  # a leaf is a str, a directory a nested Tree

OS_KEYS = ("slug", "distro", "version", "image_tag")


def instance_metadata(machine: Machine) -> dict[str, Any]:
    return as_object(as_object(machine.metadata).get("instance"))


def facility_code(machine: Machine) -> str:
    """The site's facility code, else the one in the metadata (machines without a rack)."""
    site = machine.rack.site if machine.rack_id and machine.rack else None
    if site is not None and site.facility_code:
        return site.facility_code
    return str(as_object(as_object(machine.metadata).get("facility")).get("facility_code") or "")


def _key_name(index: int, key: str) -> str:
    """EC2 lists ``<index>=<key name>``; an OpenSSH key's comment is its name."""
    parts = key.split(None, 2)
    return parts[2].replace("\n", " ") if len(parts) == 3 else f"key-{index}"


def _tag_names(machine: Machine, instance: dict[str, Any]) -> list[str]:
    tags = instance.get("tags")
    if isinstance(tags, list) and tags:
        return [str(t) for t in tags]
    return [tag.name for tag in machine.tags.all()]


def metadata_tree(*, machine: Machine, interface: NetworkInterface) -> Tree:
    instance = instance_metadata(machine)
    facility = as_object(as_object(machine.metadata).get("facility"))
    hostname = str(instance.get("hostname") or machine.hostname)
    tree: Tree = {
        "instance-id": str(instance.get("id") or f"rackpilot-{machine.pk}"),
        "hostname": hostname,
        "local-hostname": hostname,
        "local-ipv4": str(interface.ip or ""),
        "plan": str(facility.get("plan_slug") or ""),
        "facility": facility_code(machine),
    }
    keys = [str(k).strip() for k in instance.get("ssh_keys") or [] if str(k).strip()]
    if keys:
        # The listing says "0=name"; the directory itself is reached as "0/".
        tree["public-keys"] = {
            f"{i}": {"openssh-key": key, "_listing_name": f"{i}={_key_name(i, key)}"}
            for i, key in enumerate(keys)
        }
    tags = _tag_names(machine, instance)
    if tags:
        tree["tags"] = {name: name for name in tags}
    os_ = as_object(instance.get("operating_system"))
    os_values = {key: str(os_[key]) for key in OS_KEYS if os_.get(key)}
    if os_values:
        tree["operating-system"] = os_values
    return {key: value for key, value in tree.items() if value != ""}


def _listing(directory: Tree) -> str:
    entries = []
    for name, value in directory.items():
        if isinstance(value, dict):
            entries.append(value.get("_listing_name") or f"{name}/")
        elif not name.startswith("_"):
            entries.append(name)
    return "\n".join(entries)


def metadata_lookup(tree: Tree, path: str) -> str | None:
    """The text for ``path`` (``""`` = the root), or None when nothing lives there."""
    node: Any = tree
    for part in [p for p in path.split("/") if p]:
        if not isinstance(node, dict) or part.startswith("_") or part not in node:
            return None
        node = node[part]
    return _listing(node) if isinstance(node, dict) else str(node)

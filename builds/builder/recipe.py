"""LinuxKit YAML recipes: parsing and validation with line and column for every problem.

The accepted keys follow LinuxKit's own config (src/cmd/linuxkit/moby/config.go): ``kernel``
(with ``ucode``), ``init``, ``onboot``, ``onshutdown``, ``services``, ``files`` (with
``metadata``), ``volumes``; ``trust`` is accepted and ignored with a warning; ``x-rackpilot`` is
our extension key. Warnings carry a position too: ``--check`` prints them without failing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from builds.builder.recipe_images import IMAGE_KEYS, ImageSpec, VolumeRef, parse_images
from builds.builder.recipe_yaml import (
    IMAGE_REFERENCE,
    Checker,
    Node,
    Problem,
    RecipeError,
    load,
)

__all__ = [
    "IMAGE_KEYS",
    "IMAGE_REFERENCE",
    "FileSpec",
    "ImageSpec",
    "Kernel",
    "Problem",
    "Recipe",
    "RecipeError",
    "VolumeSpec",
    "check_recipe",
    "lint_recipe",
    "parse_recipe",
]

TOP_KEYS = {
    "kernel",
    "init",
    "onboot",
    "onshutdown",
    "services",
    "files",
    "trust",
    "volumes",
    "x-rackpilot",
}
KERNEL_KEYS = {"image", "cmdline", "binary", "tar", "ucode"}
FILE_KEYS = {
    "path",
    "directory",
    "symlink",
    "contents",
    "source",
    "metadata",
    "optional",
    "mode",
    "uid",
    "gid",
}
VOLUME_KEYS = {"name", "image", "readonly", "format", "platforms"}
METADATA_FORMATS = {"yaml", "json"}
VOLUME_NAME = re.compile(r"^[a-z0-9_-]*$")
EXTENSION_KEYS = {"builder"}
BUILDERS = {"rackpilot", "linuxkit"}
SECTIONS = ("onboot", "onshutdown", "services")


@dataclass
class Kernel:
    image: str
    cmdline: str = ""
    binary: str = "kernel"
    tar: str = "kernel.tar"
    ucode: str | None = None


@dataclass
class FileSpec:
    path: str
    contents: str | None = None
    source: str | None = None
    metadata: str | None = None
    directory: bool = False
    symlink: str | None = None
    optional: bool = False
    mode: int | None = None
    # A number, or the name of a container whose id LinuxKit allocated (see ``container_ids``).
    uid: int | str = 0
    gid: int | str = 0


@dataclass
class VolumeSpec:
    """A top-level volume: blank, or filled from an image; containers bind it by name."""

    name: str
    image: str | None = None
    readonly: bool = False


@dataclass
class Recipe:
    kernel: Kernel
    init: list[str]
    onboot: list[ImageSpec]
    onshutdown: list[ImageSpec]
    services: list[ImageSpec]
    files: list[FileSpec]
    volumes: list[VolumeSpec] = field(default_factory=list)
    builder: str = "rackpilot"
    warnings: list[Problem] = field(default_factory=list)
    # The recipe as written (plain values), for ``files[].metadata``.
    document: dict[str, Any] = field(default_factory=dict)

    def container_ids(self) -> dict[str, int]:
        """LinuxKit gives every container a uid/gid from 100 up, in recipe order, that files and
        other containers may name instead of a number."""
        names = [spec.name for kind in SECTIONS for spec in getattr(self, kind)]
        return {name: 100 + number for number, name in enumerate(names)}


def parse_recipe(text: str) -> Recipe:
    """Parse and validate a recipe; raise RecipeError listing every problem found."""
    root = load(text)
    check = Checker()
    top = check.mapping(root, "the recipe")
    if top is None:
        raise RecipeError(check.problems)
    check.unknown_keys(top, TOP_KEYS, "recipe")
    if "trust" in top:
        check.warn(
            top["trust"][0],
            "trust: ignored (images are checked against their digests, not Docker Content Trust)",
        )

    kernel = _parse_kernel(check, top, root)
    init: list[str] = []
    if "init" in top:
        init_node = top["init"][1]
        if isinstance(init_node.value, list):
            init = [check.image_reference(item, "init image") for item in init_node.value]
        else:
            check.problem(init_node, "init must be a list of images")
    volume_refs: list[VolumeRef] = []
    sections = {
        kind: parse_images(check, top[kind][1], kind, volume_refs) if kind in top else []
        for kind in SECTIONS
    }
    volumes = _parse_volumes(check, top["volumes"][1]) if "volumes" in top else []
    _check_volume_refs(check, volume_refs, volumes)
    names = {spec.name for specs in sections.values() for spec in specs}
    files = _parse_files(check, top["files"][1], names) if "files" in top else []
    builder = _parse_extension(check, top)
    if check.problems:
        raise RecipeError(sorted(check.problems, key=lambda p: (p.line, p.column)))
    assert kernel is not None
    return Recipe(
        kernel=kernel,
        init=init,
        onboot=sections["onboot"],
        onshutdown=sections["onshutdown"],
        services=sections["services"],
        files=files,
        volumes=volumes,
        builder=builder,
        warnings=sorted(check.warnings, key=lambda p: (p.line, p.column)),
        document=root.plain(),
    )


def check_recipe(text: str) -> list[Problem]:
    return lint_recipe(text)[0]


def lint_recipe(text: str) -> tuple[list[Problem], list[Problem]]:
    """``(problems, warnings)``: a recipe with problems does not build; warnings do not stop it."""
    try:
        recipe = parse_recipe(text)
    except RecipeError as exc:
        return exc.problems, []
    return [], recipe.warnings


def _parse_kernel(check: Checker, top: dict[str, tuple[Node, Node]], root: Node) -> Kernel | None:
    if "kernel" not in top:
        check.problem(root, "kernel: missing (a recipe needs a kernel image)")
        return None
    node = top["kernel"][1]
    kernel = check.mapping(node, "kernel")
    if kernel is None:
        return None
    check.unknown_keys(kernel, KERNEL_KEYS, "kernel")
    if "image" not in kernel:
        check.problem(node, "kernel: missing 'image'")
        return None
    result = Kernel(image=check.image_reference(kernel["image"][1], "kernel image"))
    for key in ("cmdline", "binary", "tar", "ucode"):
        if key in kernel:
            setattr(result, key, check.string(kernel[key][1], f"kernel {key}") or "")
    if result.ucode == "":
        result.ucode = None
    return result


def _parse_volumes(check: Checker, node: Node) -> list[VolumeSpec]:
    if not isinstance(node.value, list):
        check.problem(node, "volumes must be a list")
        return []
    volumes: list[VolumeSpec] = []
    for item in node.value:
        entry = check.mapping(item, "volumes entry")
        if entry is None:
            continue
        check.unknown_keys(entry, VOLUME_KEYS, "volumes entry")
        if "name" not in entry:
            check.problem(item, "volumes entry: missing 'name'")
            continue
        name_node = entry["name"][1]
        name = check.string(name_node, "volume name") or ""
        if not VOLUME_NAME.match(name):
            check.problem(name_node, f"volume name '{name}': use only a-z, 0-9, '_' and '-'")
        if any(volume.name == name for volume in volumes):
            check.problem(name_node, f"volumes: duplicate name '{name}'")
        volume = VolumeSpec(name=name)
        if "image" in entry:
            volume.image = check.image_reference(entry["image"][1], f"volume '{name}' image")
        if "readonly" in entry:
            volume.readonly = check.boolean(entry["readonly"][1], f"volume '{name}' readonly")
        if "format" in entry:
            format_node = entry["format"][1]
            if check.string(format_node, f"volume '{name}' format") not in ("", "filesystem"):
                check.problem(
                    format_node,
                    f"volume '{name}' format: only 'filesystem' is supported "
                    "(an OCI-layout volume is not)",
                )
        volumes.append(volume)
    return volumes


def _check_volume_refs(check: Checker, refs: list[VolumeRef], volumes: list[VolumeSpec]) -> None:
    by_name = {volume.name: volume for volume in volumes}
    for ref in refs:
        volume = by_name.get(ref.volume)
        if volume is None:
            check.problem(
                ref.node,
                f"'{ref.volume}' is neither an absolute path nor a volume in 'volumes'",
            )
        elif volume.readonly and not ref.read_only:
            check.problem(ref.node, f"volume '{ref.volume}' is read-only: bind it with ':ro'")


def _parse_files(check: Checker, node: Node, containers: set[str]) -> list[FileSpec]:
    if not isinstance(node.value, list):
        check.problem(node, "files must be a list")
        return []
    files: list[FileSpec] = []
    for item in node.value:
        entry = check.mapping(item, "files entry")
        if entry is None:
            continue
        check.unknown_keys(entry, FILE_KEYS, "files entry")
        if "path" not in entry:
            check.problem(item, "files entry: missing 'path'")
            continue
        path = check.string(entry["path"][1], "files path") or ""
        spec = FileSpec(path=path.lstrip("/"))
        for key in ("contents", "source", "symlink", "metadata"):
            if key in entry:
                setattr(spec, key, check.string(entry[key][1], f"file {path} {key}"))
        for flag in ("directory", "optional"):
            if flag in entry:
                setattr(spec, flag, check.boolean(entry[flag][1], f"file {path} {flag}"))
        if spec.metadata is not None and spec.metadata not in METADATA_FORMATS:
            check.problem(
                entry["metadata"][1],
                f"file {path} metadata: '{spec.metadata}' is not one of {sorted(METADATA_FORMATS)}",
            )
        if spec.source is not None:
            check.warn(
                entry["source"][1],
                f"file {path}: source '{spec.source}' is read on the build host at build time"
                + ("; skipped where it is missing" if spec.optional else ""),
            )
        if "mode" in entry:
            mode_node = entry["mode"][1]
            text = check.string(mode_node, f"file {path} mode") or ""
            try:
                spec.mode = int(text, 8)
            except ValueError:
                check.problem(mode_node, f"file {path} mode: '{text}' is not an octal mode")
        for owner in ("uid", "gid"):
            if owner in entry:
                setattr(
                    spec, owner, _owner(check, entry[owner][1], f"file {path} {owner}", containers)
                )
        kinds = [
            spec.contents is not None,
            spec.source is not None,
            spec.metadata is not None,
            spec.directory,
            spec.symlink,
        ]
        if sum(bool(k) for k in kinds) > 1:
            check.problem(
                item, f"file {path}: use only one of contents, source, metadata, directory, symlink"
            )
        elif not any(kinds):
            check.problem(
                item,
                f"file {path}: say what it holds (contents, source, metadata, "
                "directory or symlink)",
            )
        files.append(spec)
    return files


def _owner(check: Checker, node: Node, where: str, containers: set[str]) -> int | str:
    """A number, ``root``, or the name of a container (LinuxKit's allocated ids)."""
    value = node.value
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and (value in ("", "root") or value in containers):
        return 0 if value in ("", "root") else value
    check.problem(node, f"{where}: '{value}' is neither a number nor a container name")
    return 0


def _parse_extension(check: Checker, top: dict[str, tuple[Node, Node]]) -> str:
    if "x-rackpilot" not in top:
        return "rackpilot"
    extension = check.mapping(top["x-rackpilot"][1], "x-rackpilot")
    if extension is None:
        return "rackpilot"
    check.unknown_keys(extension, EXTENSION_KEYS, "x-rackpilot")
    if "builder" not in extension:
        return "rackpilot"
    node = extension["builder"][1]
    builder = check.string(node, "x-rackpilot builder") or ""
    if builder not in BUILDERS:
        check.problem(node, f"x-rackpilot builder: '{builder}' is not one of {sorted(BUILDERS)}")
    return builder

"""LinuxKit YAML recipes: parsing and validation with line and column for every problem.

The accepted keys follow LinuxKit's own schema (src/cmd/linuxkit/moby/schema.go) plus the keys
newer LinuxKit releases added (``devices``, ``binds.add``, ``platforms``). ``trust`` and
``volumes`` are accepted and ignored (a note says so); ``x-rackpilot`` is our extension key.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import yaml

# Image references: [domain[:port]/]path[:tag][@digest], the distribution project's grammar.
_DOMAIN_COMPONENT = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_DOMAIN = (
    rf"(?:{_DOMAIN_COMPONENT}(?:\.{_DOMAIN_COMPONENT})*(?::[0-9]+)?|\[[0-9a-fA-F:]+\](?::[0-9]+)?)"
)
_PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_NAME = rf"(?:{_DOMAIN}/)?{_PATH_COMPONENT}(?:/{_PATH_COMPONENT})*"
_TAG = r"[\w][\w.-]{0,127}"
_DIGEST = r"[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}"
IMAGE_REFERENCE = re.compile(rf"^{_NAME}(?::{_TAG})?(?:@{_DIGEST})?$")

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
IGNORED_KEYS = {"trust", "volumes"}
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
IMAGE_KEYS = {
    "name",
    "image",
    "capabilities",
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
EXTENSION_KEYS = {"builder"}
BUILDERS = {"rackpilot", "linuxkit"}
_STRING_LISTS = {
    "capabilities",
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
_STRINGS = {"cwd", "net", "pid", "ipc", "uts", "userns", "hostname", "rootfsPropagation"}


@dataclass
class Problem:
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.message}"


@dataclass
class Kernel:
    image: str
    cmdline: str = ""
    binary: str = "kernel"
    tar: str = "kernel.tar"


@dataclass
class ImageSpec:
    """One onboot/onshutdown/services entry; ``options`` holds the LinuxKit keys as written."""

    name: str
    image: str
    options: dict[str, Any] = field(default_factory=dict)


@dataclass
class FileSpec:
    path: str
    contents: str | None = None
    source: str | None = None
    directory: bool = False
    symlink: str | None = None
    optional: bool = False
    mode: int | None = None
    uid: int = 0
    gid: int = 0


@dataclass
class Recipe:
    kernel: Kernel
    init: list[str]
    onboot: list[ImageSpec]
    onshutdown: list[ImageSpec]
    services: list[ImageSpec]
    files: list[FileSpec]
    builder: str = "rackpilot"
    notes: list[str] = field(default_factory=list)


class RecipeError(Exception):
    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class _Node:
    """A YAML value and where it starts (1-based)."""

    __slots__ = ("column", "line", "text", "value")

    def __init__(self, value: Any, line: int, column: int, text: str | None = None):
        self.value = value
        self.line = line
        self.column = column
        self.text = text

    def plain(self) -> Any:
        if isinstance(self.value, dict):
            return {k: v.plain() for k, (_, v) in self.value.items()}
        if isinstance(self.value, list):
            return [item.plain() for item in self.value]
        return self.value


def _construct(loader: yaml.SafeLoader, node: yaml.Node) -> _Node:
    mark = node.start_mark
    if isinstance(node, yaml.MappingNode):
        mapping: dict[str, tuple[_Node, _Node]] = {}
        for key_node, value_node in node.value:
            key = _construct(loader, key_node)
            mapping[str(key.value)] = (key, _construct(loader, value_node))
        return _Node(mapping, mark.line + 1, mark.column + 1)
    if isinstance(node, yaml.SequenceNode):
        return _Node([_construct(loader, n) for n in node.value], mark.line + 1, mark.column + 1)
    text = node.value if isinstance(node, yaml.ScalarNode) else None
    return _Node(loader.construct_object(node), mark.line + 1, mark.column + 1, text)


class _Checker:
    def __init__(self) -> None:
        self.problems: list[Problem] = []

    def problem(self, node: _Node, message: str) -> None:
        self.problems.append(Problem(node.line, node.column, message))

    def mapping(self, node: _Node, where: str) -> dict[str, tuple[_Node, _Node]] | None:
        if isinstance(node.value, dict):
            return node.value
        self.problem(node, f"{where} must be a mapping")
        return None

    def unknown_keys(self, mapping: dict[str, tuple[_Node, _Node]], known: set[str], where: str):
        for key, (key_node, _) in mapping.items():
            if key not in known:
                self.problem(key_node, f"{where}: unknown key '{key}'")

    def string(self, node: _Node, where: str) -> str | None:
        if (
            isinstance(node.value, bool)
            or node.value is None
            or isinstance(node.value, dict | list)
        ):
            self.problem(node, f"{where} must be a string")
            return None
        # Go reads `mode: 0644` as the string "0644": keep the source text for scalars.
        return node.text if node.text is not None else str(node.value)

    def string_list(self, node: _Node, where: str) -> list[str]:
        if not isinstance(node.value, list):
            self.problem(node, f"{where} must be a list of strings")
            return []
        values = [self.string(item, f"{where} item") for item in node.value]
        return [v for v in values if v is not None]

    def boolean(self, node: _Node, where: str) -> bool:
        if not isinstance(node.value, bool):
            self.problem(node, f"{where} must be true or false")
            return False
        return node.value

    def image_reference(self, node: _Node, where: str) -> str:
        image = self.string(node, where) or ""
        if image and not IMAGE_REFERENCE.match(image):
            self.problem(node, f"{where}: '{image}' is not a valid image reference")
        return image


def _load(text: str) -> _Node:
    try:
        # The reader checks the whole text for characters YAML forbids as it is built.
        loader = yaml.SafeLoader(text)
    except yaml.reader.ReaderError as exc:
        offset = max(0, min(exc.position, len(text)))
        line, column = text.count("\n", 0, offset) + 1, offset - text.rfind("\n", 0, offset)
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        message = f"YAML: character #x{code:04x} is not allowed"
        raise RecipeError([Problem(line, column, message)]) from exc
    try:
        node = loader.get_single_node()
        if node is None:
            raise RecipeError([Problem(1, 1, "the recipe is empty")])
        return _construct(loader, node)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise RecipeError([Problem(line, column, f"YAML: {exc.problem or exc}")]) from exc
    except yaml.YAMLError as exc:
        raise RecipeError([Problem(1, 1, f"YAML: {exc}")]) from exc
    finally:
        loader.dispose()


def parse_recipe(text: str) -> Recipe:
    """Parse and validate a recipe; raise RecipeError listing every problem found."""
    root = _load(text)
    check = _Checker()
    top = check.mapping(root, "the recipe")
    if top is None:
        raise RecipeError(check.problems)
    check.unknown_keys(top, TOP_KEYS, "recipe")
    notes = [f"'{key}' is accepted and ignored" for key in IGNORED_KEYS if key in top]

    kernel = _parse_kernel(check, top, root)
    init: list[str] = []
    if "init" in top:
        init_node = top["init"][1]
        if isinstance(init_node.value, list):
            init = [check.image_reference(item, "init image") for item in init_node.value]
        else:
            check.problem(init_node, "init must be a list of images")
    sections = {
        kind: _parse_images(check, top[kind][1], kind) if kind in top else []
        for kind in ("onboot", "onshutdown", "services")
    }
    files = _parse_files(check, top["files"][1]) if "files" in top else []
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
        builder=builder,
        notes=notes,
    )


def check_recipe(text: str) -> list[Problem]:
    try:
        parse_recipe(text)
    except RecipeError as exc:
        return exc.problems
    return []


def _parse_kernel(
    check: _Checker, top: dict[str, tuple[_Node, _Node]], root: _Node
) -> Kernel | None:
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
    for key in ("cmdline", "binary", "tar"):
        if key in kernel:
            setattr(result, key, check.string(kernel[key][1], f"kernel {key}") or "")
    return result


def _parse_images(check: _Checker, node: _Node, kind: str) -> list[ImageSpec]:
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
        options: dict[str, Any] = {}
        for key, (_, value) in entry.items():
            if key in ("name", "image") or key not in IMAGE_KEYS:
                continue
            if key in _STRING_LISTS:
                options[key] = check.string_list(value, f"{where} {key}")
            elif key in _STRINGS:
                options[key] = check.string(value, f"{where} {key}")
            elif key in ("readonly", "noNewPrivileges"):
                options[key] = check.boolean(value, f"{where} {key}")
            elif key == "mounts":
                options[key] = _parse_mounts(check, value, where)
            else:
                options[key] = value.plain()
        images.append(ImageSpec(name=name or "", image=image, options=options))
    return images


def _parse_mounts(check: _Checker, node: _Node, where: str) -> list[dict[str, Any]]:
    if not isinstance(node.value, list):
        check.problem(node, f"{where} mounts must be a list")
        return []
    mounts = []
    for item in node.value:
        mount = check.mapping(item, f"{where} mount")
        if mount is not None:
            check.unknown_keys(mount, MOUNT_KEYS, f"{where} mount")
            mounts.append(item.plain())
    return mounts


def _parse_files(check: _Checker, node: _Node) -> list[FileSpec]:
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
        if "contents" in entry:
            spec.contents = check.string(entry["contents"][1], f"file {path} contents")
        if "source" in entry:
            spec.source = check.string(entry["source"][1], f"file {path} source")
        if "symlink" in entry:
            spec.symlink = check.string(entry["symlink"][1], f"file {path} symlink")
        for flag in ("directory", "optional"):
            if flag in entry:
                setattr(spec, flag, check.boolean(entry[flag][1], f"file {path} {flag}"))
        if "mode" in entry:
            mode_node = entry["mode"][1]
            text = check.string(mode_node, f"file {path} mode") or ""
            try:
                spec.mode = int(text, 8)
            except ValueError:
                check.problem(mode_node, f"file {path} mode: '{text}' is not an octal mode")
        for owner in ("uid", "gid"):
            if owner in entry:
                value = entry[owner][1]
                if isinstance(value.value, int) and not isinstance(value.value, bool):
                    setattr(spec, owner, value.value)
                else:
                    # LinuxKit resolves user names against an image; we only take numbers.
                    check.problem(value, f"file {path} {owner}: only numeric ids are supported")
        kinds = [spec.contents is not None, spec.source is not None, spec.directory, spec.symlink]
        if sum(bool(k) for k in kinds) > 1:
            check.problem(
                item, f"file {path}: use only one of contents, source, directory, symlink"
            )
        files.append(spec)
    return files


def _parse_extension(check: _Checker, top: dict[str, tuple[_Node, _Node]]) -> str:
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

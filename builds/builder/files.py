"""The recipe's ``files`` section, written last, with LinuxKit's defaults: files 0600,
directories 0700, owners by number or by container name, and ``metadata: yaml|json`` holding the
build's own configuration."""

from __future__ import annotations

import json
import posixpath
from pathlib import Path
from typing import Any

import yaml

from builds.builder.initramfs import CpioWriter
from builds.builder.recipe import SECTIONS, FileSpec, Recipe
from builds.builder.registry import parse_reference


class FilesError(Exception):
    pass


def metadata_document(recipe: Recipe, kind: str) -> bytes:
    """The recipe as LinuxKit records it in the image: its sections in LinuxKit's order with
    every image reference written in full (``alpine`` → ``docker.io/library/alpine:latest``)."""
    document = recipe.document

    def expand(image: Any) -> Any:
        return str(parse_reference(image)) if isinstance(image, str) and image else image

    config: dict[str, Any] = {}
    if "kernel" in document:
        config["kernel"] = {**document["kernel"], "image": expand(document["kernel"].get("image"))}
    config["init"] = [expand(image) for image in document.get("init") or []]
    for section in SECTIONS:
        config[section] = [
            {**entry, "image": expand(entry.get("image"))} for entry in document.get(section) or []
        ]
    config["files"] = document.get("files") or []
    config["volumes"] = [
        {**volume, **({"image": expand(volume["image"])} if volume.get("image") else {})}
        for volume in document.get("volumes") or []
    ]
    if kind == "json":
        return json.dumps(config, indent=4).encode()
    return yaml.safe_dump(config, sort_keys=False, default_flow_style=False).encode()


def _directory_mode(mode: int) -> int:
    """A file's mode made fit for its parent directories: search where read or write is allowed."""
    for bits, search in ((0o700, 0o100), (0o070, 0o010), (0o007, 0o001)):
        if mode & bits:
            mode |= search
    return mode


def _owner(value: int | str, ids: dict[str, int]) -> int:
    return value if isinstance(value, int) else ids.get(value, 0)


def write_files(recipe: Recipe, writer: CpioWriter) -> None:
    ids = recipe.container_ids()
    for file in recipe.files:
        write_file(file, recipe, writer, ids)


def write_file(file: FileSpec, recipe: Recipe, writer: CpioWriter, ids: dict[str, int]) -> None:
    path = file.path.strip("/")
    mode = file.mode if file.mode is not None else (0o700 if file.directory else 0o600)
    uid, gid = _owner(file.uid, ids), _owner(file.gid, ids)
    data = b""
    if file.source is not None:
        source = Path(file.source).expanduser()
        if not source.is_file():
            if file.optional:
                return
            raise FilesError(f"files: {file.path}: source {file.source} does not exist")
        data = source.read_bytes()
    elif file.metadata is not None:
        data = metadata_document(recipe, file.metadata)
    elif file.contents is not None:
        data = file.contents.encode()
    _parents(writer, path, _directory_mode(mode), uid, gid)
    if file.directory:
        writer.directory(path, mode=mode, uid=uid, gid=gid)
    elif file.symlink is not None:
        writer.symlink(path, file.symlink, uid=uid, gid=gid)
    else:
        writer.file(path, (data,), len(data), mode=mode, uid=uid, gid=gid)


def _parents(writer: CpioWriter, path: str, mode: int, uid: int, gid: int) -> None:
    """Missing parent directories get the file's owner and search rights. Directories that
    already exist keep theirs: redeclaring ``etc`` 0700 for a 0600 file would lock others out."""
    missing = []
    parent = posixpath.dirname(path)
    while parent and parent not in writer.directories:
        missing.append(parent)
        parent = posixpath.dirname(parent)
    for directory in reversed(missing):
        writer.directory(directory, mode=mode, uid=uid, gid=gid)

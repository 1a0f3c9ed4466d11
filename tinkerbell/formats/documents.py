"""Tinkerbell documents: the kind registry, YAML in and out, and the all-or-nothing import.

``import_documents`` reads multi-document YAML the way ``kubectl apply -f`` would accept it,
checks every document before writing anything, then applies all of them in one transaction.
Each kind has a handler in ``KINDS``; ``Hardware`` is the first, and later kinds (``Template``,
``Workflow``) register theirs with ``register_kind``.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any, Protocol

import yaml
from django.core.exceptions import ValidationError
from django.db import models, transaction

from inventory.fields import normalize_mac
from inventory.models import NetworkInterface
from rackpilot.core.actors import Actor
from workflows.gotemplate.goyaml import GoLoader

API_VERSION = "tinkerbell.org/v1alpha1"
# Key inside Machine.metadata where the importer keeps fields that have no column (namespace,
# labels, bmcRef, ...) so an export gives back an equivalent document. Registered as
# bookkeeping in the app's ready(): hidden from the API and pages, kept on edits.
RESERVED_KEY = "_tinkerbell"
# Set by the API server of the cluster a document came from; another cluster would refuse them.
SERVER_FIELDS = {
    *("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp"),
    *("deletionGracePeriodSeconds", "managedFields", "selfLink", "ownerReferences"),
}
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
# Hardware fields of Tinkerbell releases up to the tinkerbell/tinkerbell monorepo; anything
# else is kept for export too, but with a warning, since it is most likely a typo.
KNOWN_KEYS = {
    "document": {"apiVersion", "kind", "metadata", "spec", "status"},
    "spec": {
        *("agentID", "auto", "bmcRef", "disks", "interfaces", "metadata", "references"),
        *("resources", "tinkVersion", "userData", "vendorData"),
    },
    "interface": {"dhcp", "disableDhcp", "isoboot", "netboot"},
    "dhcp": {
        *("arch", "boot_file_name", "classless_static_routes", "domain_name", "hostname"),
        *("iface_name", "ip", "lease_time", "mac", "name_servers", "tftp_server_name"),
        *("time_servers", "uefi", "vlan_id"),
    },
    "ip": {"address", "family", "gateway", "netmask"},
    "netboot": {"allowPXE", "allowWorkflow", "ipxe", "osie", "pxelinux", "rpi"},
    "ipxe": {"binary", "contents", "url"},
    "disk": {"device"},
}
TYPE_NAMES = {
    str: "a string",
    bool: "true or false",
    int: "a whole number",
    dict: "a mapping",
    list: "a list",
}


class TinkerbellImportError(Exception):
    """The import was refused and nothing was written; ``errors`` has one line per problem."""

    def __init__(self, errors: list[str]):
        self.errors = errors
        super().__init__(f"{len(errors)} problem(s); nothing was imported")


class DocumentProblems(Exception):
    """(field path, message) pairs found in one document; kind handlers raise it."""

    def __init__(self, items: list[tuple[str, str]]):
        self.items = items
        super().__init__(items)


class _Rollback(Exception):
    pass


@dataclass(frozen=True)
class ImportedObject:
    kind: str
    name: str
    action: str  # "created" | "updated" | "unchanged" | "read" (a Secret another one used)

    def __str__(self) -> str:
        return f"{self.action} {self.kind} {self.name}"


@dataclass
class ImportResult:
    objects: list[ImportedObject]
    warnings: list[str] = field(default_factory=list)
    dry_run: bool = False

    @property
    def created(self) -> list[ImportedObject]:
        return [o for o in self.objects if o.action == "created"]

    @property
    def updated(self) -> list[ImportedObject]:
        return [o for o in self.objects if o.action == "updated"]


@dataclass
class Document:
    label: str  # "document 2", or "document 1 items[3]" inside a List
    body: dict[str, Any]

    @property
    def name(self) -> str | None:
        meta = self.body.get("metadata") if isinstance(self.body, dict) else None
        name = meta.get("name") if isinstance(meta, dict) else None
        return name if isinstance(name, str) and name.strip() else None

    @property
    def where(self) -> str:
        return f"{self.label} ({self.name})" if self.name else self.label


class ImportContext:
    """What the documents checked so far claim (names, MACs, machines), to catch clashes, and
    every document of the import, so that one can read another (a Hardware the Secret its
    references name, a BMC Machine its credentials)."""

    def __init__(self, documents: list[Document] | None = None) -> None:
        self._claims: dict[tuple[str, Any], tuple[Document, str]] = {}
        self.documents = documents or []

    def find(self, kind: str, name: str, namespace: str = "") -> Document | None:
        """The document of ``kind`` named ``name``; with a namespace, one in it (or in none)."""
        for doc in self.documents:
            body = doc.body if isinstance(doc.body, dict) else {}
            if body.get("kind") != kind or doc.name != name:
                continue
            meta = body.get("metadata") or {}
            theirs = meta.get("namespace") if isinstance(meta, dict) else None
            if not namespace or not theirs or theirs == namespace:
                return doc
        return None

    def claim(self, key: tuple[str, Any], doc: Document, path: str) -> str | None:
        """Record the claim; if someone already holds ``key``, say who instead."""
        holder = self._claims.setdefault(key, (doc, path))
        if holder[0] is doc and holder[1] == path:
            return None
        other, other_path = holder
        return other_path if other is doc else other.where

    def claimed(self, key: tuple[str, Any]) -> Document | None:
        holder = self._claims.get(key)
        return holder[0] if holder else None


Step = Callable[[Actor], ImportedObject]


class KindHandler(Protocol):
    kind: str
    api_version: str
    apply_order: int  # kinds that others refer to are applied first

    def plan(self, doc: Document, context: ImportContext, warn: Callable[[str], None]) -> Step:
        """Check ``doc`` without writing; raise ``DocumentProblems`` or return what applies it."""
        ...


KINDS: dict[str, KindHandler] = {}


def register_kind(handler: KindHandler) -> KindHandler:
    KINDS[handler.kind] = handler
    return handler


# --- YAML --------------------------------------------------------------------------------------


class _Loader(GoLoader):
    """YAML as Kubernetes reads it: dates stay strings, a key given twice is an error."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        self.flatten_mapping(node)
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"found duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _Dumper(yaml.SafeDumper):
    def ignore_aliases(self, data: Any) -> bool:
        return True  # every document stands on its own, without &anchors


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    # cloud-config and iPXE scripts stay readable as literal blocks.
    return dumper.represent_scalar(
        "tag:yaml.org,2002:str", value, style="|" if "\n" in value else None
    )


_Dumper.add_representer(str, _represent_str)


def _yaml_error(exc: yaml.YAMLError) -> str:
    if not isinstance(exc, yaml.MarkedYAMLError):
        return f"not valid YAML: {exc}"
    mark = exc.problem_mark or exc.context_mark
    text = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
    text += exc.problem or exc.context or "not valid YAML"
    if exc.problem and exc.context and exc.context_mark:
        cm = exc.context_mark
        text += f" ({exc.context} at line {cm.line + 1}, column {cm.column + 1})"
    return text


def _not_json(value: Any, path: str) -> Iterator[tuple[str, str]]:
    """Values JSON (and so Kubernetes and the database) cannot hold."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                yield path or "(top)", f"key {key!r} is not a string; quote it"
            else:
                yield from _not_json(item, f"{path}.{key}" if path else key)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _not_json(item, f"{path}[{index}]")
    elif isinstance(value, float) and not math.isfinite(value):
        yield path, f"{value} is not a number JSON can hold"
    elif not isinstance(value, str | int | float | bool | type(None)):
        yield path, f"a {type(value).__name__} value is not allowed here"


def parse_documents(text: str) -> list[Document]:
    """Non-empty documents of a YAML stream; a ``List`` contributes each of its items, and so
    does a bare YAML list of documents (the file backend's format)."""
    documents: list[Document] = []
    errors: list[str] = []
    try:
        # Numbered as a reader counts them: empty documents (a stray ``---``) do not count.
        bodies = (body for body in yaml.load_all(text, Loader=_Loader) if body is not None)
        for number, body in enumerate(bodies, start=1):
            doc = Document(label=f"document {number}", body=body)
            if isinstance(body, list):
                for index, item in enumerate(body):
                    listed = Document(label=f"{doc.label} [{index}]", body=item)
                    if not isinstance(item, dict):
                        errors.append(f"{listed.label}: expected a mapping with apiVersion, kind")
                        continue
                    errors.extend(f"{listed.where}: {p}: {m}" for p, m in _not_json(item, ""))
                    documents.append(listed)
                continue
            if not isinstance(body, dict):
                errors.append(f"{doc.label}: expected a mapping with apiVersion, kind, metadata")
                continue
            errors.extend(f"{doc.where}: {p}: {m}" for p, m in _not_json(body, ""))
            items = body.get("items")
            kind = body.get("kind")
            if isinstance(kind, str) and kind.endswith("List") and isinstance(items, list):
                documents.extend(
                    Document(label=f"{doc.label} items[{index}]", body=item)
                    for index, item in enumerate(items)
                )
            else:
                documents.append(doc)
    except yaml.YAMLError as exc:
        errors.append(_yaml_error(exc))
    if errors:
        raise TinkerbellImportError(errors)
    return documents


def dump_documents(documents: Iterable[dict[str, Any]]) -> str:
    # Sorted keys, as ``kubectl get -o yaml`` writes them: the database does not keep the
    # order of JSON keys anyway.
    return yaml.dump_all(
        list(documents),
        Dumper=_Dumper,
        sort_keys=True,
        explicit_start=True,
        allow_unicode=True,
        width=4096,
    )


# --- import --------------------------------------------------------------------------------------


class _NotOurs(Exception):
    """A document of a kind Rackpilot does not read (a Pod, a cluster-api Machine...)."""


def _group(api_version: object) -> str:
    return api_version.rpartition("/")[0] if isinstance(api_version, str) else ""


def _check_envelope(doc: Document) -> KindHandler:
    problems: list[tuple[str, str]] = []
    if not isinstance(doc.body, dict):
        raise DocumentProblems([("", "expected a mapping with apiVersion, kind, metadata")])
    kind = doc.body.get("kind")
    api_version = doc.body.get("apiVersion")
    handler = KINDS.get(kind) if isinstance(kind, str) else None
    ours = _group(api_version) == _group(API_VERSION)
    if not kind:
        problems.append(("kind", "required"))
    elif not api_version:
        problems.append(("apiVersion", "required"))
    elif handler is None or _group(api_version) != _group(handler.api_version):
        if not ours:
            raise _NotOurs
        supported = ", ".join(sorted(k for k, h in KINDS.items() if h.api_version == API_VERSION))
        problems.append(("kind", f"{kind!r} is not supported (supported: {supported})"))
        handler = None
    elif api_version != handler.api_version:
        problems.append(
            (
                "apiVersion",
                f"{api_version!r} is not supported for {handler.kind} "
                f"(expected {handler.api_version}): Rackpilot supports "
                f"{handler.api_version} only, and {api_version} has another schema",
            )
        )
    if doc.name is None:
        problems.append(("metadata.name", "required"))
    if problems or handler is None:
        raise DocumentProblems(problems)
    return handler


def _lines(doc: Document, problems: DocumentProblems) -> list[str]:
    return [
        f"{doc.where}: {path}: {msg}" if path else f"{doc.where}: {msg}"
        for path, msg in problems.items
    ]


def _note(warnings: list[str], doc: Document, warning: str) -> None:
    warnings.append(f"{doc.where}: {warning}")


def import_documents(*, text: str, actor: Actor, dry_run: bool = False) -> ImportResult:
    """Create or update one object per document, all of them or (on any problem) none."""
    documents = parse_documents(text)
    if not documents:
        raise TinkerbellImportError(["no documents found"])
    context = ImportContext(documents)
    warnings: list[str] = []
    errors: list[str] = []
    objects: list[ImportedObject] = []
    try:
        with transaction.atomic():
            steps: list[tuple[int, int, Document, Step]] = []
            for position, doc in enumerate(documents):
                try:
                    handler = _check_envelope(doc)
                    step = handler.plan(doc, context, partial(_note, warnings, doc))
                    steps.append((handler.apply_order, position, doc, step))
                except _NotOurs:
                    kind = doc.body.get("kind")
                    _note(warnings, doc, f"{doc.body.get('apiVersion')} {kind}: not a kind "
                          "Rackpilot reads; ignored")  # fmt: skip
                except DocumentProblems as exc:
                    errors.extend(_lines(doc, exc))
            if errors:
                raise _Rollback
            for _, _, doc, step in sorted(steps, key=lambda s: s[:2]):
                try:
                    with transaction.atomic():
                        objects.append(step(actor))
                except DocumentProblems as exc:
                    errors.extend(_lines(doc, exc))
                except ValidationError as exc:  # not tied to a field, e.g. a protected row
                    errors.extend(f"{doc.where}: {message}" for message in exc.messages)
            if errors or dry_run:
                raise _Rollback
    except _Rollback:
        if errors:
            raise TinkerbellImportError(errors) from None
    return ImportResult(objects=objects, warnings=warnings, dry_run=dry_run)


# --- reading fields ------------------------------------------------------------------------------


class _Reader:
    """Takes fields out of a document, noting every problem with its path.

    Taking removes the key: whatever is left afterwards is kept as it is for export.
    """

    def __init__(self, warn: Callable[[str], None]) -> None:
        self.problems: list[tuple[str, str]] = []
        self.warn = warn

    def error(self, path: str, message: str) -> None:
        self.problems.append((path, message))

    def take(
        self, mapping: dict[str, Any], key: str, path: str, kind: type, *, required: bool = False
    ) -> Any:
        value = mapping.pop(key, None)
        if value is None:
            if required:
                self.error(path, "required")
            return None
        if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
            self.error(path, f"expected {TYPE_NAMES.get(kind, kind.__name__)}, got {value!r}")
            return None
        return value

    def clean(self, model: type[models.Model], name: str, value: Any, path: str) -> Any:
        try:
            return model._meta.get_field(name).clean(value, None)  # type: ignore[union-attr]
        except ValidationError as exc:
            message = " ".join(exc.messages)
            self.error(path, message if repr(value) in message else f"{value!r}: {message}")
            return None

    def mac(self, value: str | None, path: str) -> str | None:
        if value is None:
            return None
        try:
            return normalize_mac(value)
        except ValidationError:
            self.error(path, f"{value!r} is not a MAC address")
            return None

    def ip(self, value: Any, path: str) -> str | None:
        try:
            return str(ipaddress.ip_address(str(value)))
        except ValueError:
            self.error(path, f"{value!r} is not an IP address")
            return None

    def vlan(self, value: str | int | None, path: str) -> int | None:
        if value is None or value == "":
            return None
        if isinstance(value, str) and "," in value:
            self.error(path, f"{value!r}: a list of VLAN IDs is not supported; give one")
            return None
        if isinstance(value, str) and not value.strip().isdigit():
            self.error(path, f"{value!r} is not a VLAN ID")
            return None
        return self.clean(NetworkInterface, "vlan_id", int(value), path)

    def unknown(self, mapping: Any, known: str, path: str) -> None:
        if isinstance(mapping, dict):
            for key in mapping:
                if key not in KNOWN_KEYS[known]:
                    where = f"{path}.{key}" if path else key
                    self.warn(f"{where}: not a Hardware field; kept as it is for export")

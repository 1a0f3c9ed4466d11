"""Kubernetes ``Secret`` and ``ConfigMap`` documents (``v1``) read by other documents of the
same import, and Hardware ``spec.references``.

Rackpilot has no Kubernetes API to fetch objects from, so what a Hardware's references name
comes from the same file: a ``Secret`` or ``ConfigMap`` whose name (and namespace, when both
say one) the reference gives. Its object, as the API server would return it (a Secret's
``stringData`` merged into ``data``, base64-encoded), is kept in the machine's bookkeeping and
given to templates as ``.references.<name>``. A BMC ``Machine`` reads its credentials from a
Secret the same way. Secrets and ConfigMaps are never stored on their own.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Callable
from functools import partial
from typing import Any

from rackpilot.core.actors import Actor
from tinkerbell.formats.documents import (
    LAST_APPLIED,
    SERVER_FIELDS,
    Document,
    DocumentProblems,
    ImportContext,
    ImportedObject,
    Step,
    register_kind,
)

# Key in the machine's bookkeeping holding the referenced objects, by reference name.
REFERENCE_DATA = "reference_data"
# ``resource`` of a reference (the plural, lower-case kind) -> the kind read from the file.
RESOURCE_KINDS = {"secrets": "Secret", "configmaps": "ConfigMap"}


def namespace_of(doc: Document) -> str:
    meta = doc.body.get("metadata") if isinstance(doc.body, dict) else None
    namespace = meta.get("namespace") if isinstance(meta, dict) else None
    return namespace if isinstance(namespace, str) else ""


def served_object(doc: Document) -> dict[str, Any]:
    """The object as Kubernetes' API server returns it: stringData folded into data."""
    body = copy.deepcopy(doc.body)
    meta = body.get("metadata")
    if isinstance(meta, dict):
        for key in SERVER_FIELDS & {"managedFields"}:
            meta.pop(key, None)
        annotations = meta.get("annotations")
        if isinstance(annotations, dict):
            annotations.pop(LAST_APPLIED, None)
    string_data = body.pop("stringData", None)
    if body.get("kind") == "Secret" and isinstance(string_data, dict):
        data = body.setdefault("data", {}) or {}
        for key, value in string_data.items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        body["data"] = data
    elif isinstance(string_data, dict):
        body.setdefault("data", {}).update(string_data)
    return body


def secret_value(doc: Document, key: str) -> str | None:
    """One decoded entry of a Secret (``data`` base64, ``stringData`` plain)."""
    body = doc.body if isinstance(doc.body, dict) else {}
    string_data = body.get("stringData")
    if isinstance(string_data, dict) and isinstance(string_data.get(key), str):
        return str(string_data[key])
    data = body.get("data")
    value = data.get(key) if isinstance(data, dict) else None
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (ValueError, UnicodeDecodeError):
        return None


def resolve_references(
    references: Any, namespace: str, context: ImportContext, warn: Callable[[str], None]
) -> dict[str, Any]:
    """The objects ``spec.references`` name, by reference name; a reference whose object is
    not in the import is left out (templates using it fail, as in Tinkerbell)."""
    resolved: dict[str, Any] = {}
    if not isinstance(references, dict):
        return resolved
    for name, reference in references.items():
        path = f"spec.references.{name}"
        if not isinstance(reference, dict):
            continue
        resource = str(reference.get("resource") or "")
        kind = RESOURCE_KINDS.get(resource.lower())
        target = reference.get("name")
        if kind is None:
            warn(
                f"{path}: resource {resource!r} cannot be read without Kubernetes (Rackpilot "
                f"reads {', '.join(sorted(RESOURCE_KINDS))} from the same file); "
                f".references.{name} is absent"
            )
            continue
        found = (
            context.find(kind, target, str(reference.get("namespace") or namespace))
            if isinstance(target, str)
            else None
        )
        if found is None:
            warn(
                f"{path}: no {kind} {target!r} in this file; .references.{name} is absent "
                "until the Hardware is imported with it"
            )
            continue
        resolved[name] = served_object(found)
    return resolved


def _references_in(other: Document) -> list[Any]:
    """What a document of the import names: a Hardware's references, a BMC Machine's Secret."""
    spec = other.body.get("spec") if isinstance(other.body, dict) else None
    if not isinstance(spec, dict):
        return []
    refs: list[Any] = []
    if other.body.get("kind") == "Hardware" and isinstance(spec.get("references"), dict):
        refs.extend(spec["references"].values())
    connection = spec.get("connection")
    if isinstance(connection, dict) and isinstance(connection.get("authSecretRef"), dict):
        refs.append({**connection["authSecretRef"], "resource": "secrets"})
    return refs


def _used_by(doc: Document, context: ImportContext) -> bool:
    namespace = namespace_of(doc)
    return any(
        isinstance(ref, dict)
        and RESOURCE_KINDS.get(str(ref.get("resource") or "").lower()) == doc.body["kind"]
        and ref.get("name") == doc.name
        and (not ref.get("namespace") or not namespace or ref["namespace"] == namespace)
        for other in context.documents
        for ref in _references_in(other)
    )


def _read(kind: str, name: str, actor: Actor) -> ImportedObject:
    return ImportedObject(kind=kind, name=name, action="read")


class _SourceKind:
    api_version = "v1"
    apply_order = 5

    def __init__(self, kind: str) -> None:
        self.kind = kind

    def plan(self, doc: Document, context: ImportContext, warn: Callable[[str], None]) -> Step:
        other = context.claim((self.kind, (namespace_of(doc), doc.name)), doc, "metadata.name")
        if other:
            raise DocumentProblems([("metadata.name", f"{doc.name!r} is also defined by {other}")])
        for key in ("data", "stringData"):
            value = doc.body.get(key)
            if value is not None and not isinstance(value, dict):
                raise DocumentProblems([(key, f"expected a mapping, got {value!r}")])
        if not _used_by(doc, context):
            warn("no Hardware reference or BMC Machine in this file names it; nothing is kept")
        return partial(_read, self.kind, doc.name or "")


register_kind(_SourceKind("Secret"))
register_kind(_SourceKind("ConfigMap"))

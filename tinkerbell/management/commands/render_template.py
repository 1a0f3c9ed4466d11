"""``manage.py render_template FILE --hardware HW.yaml``: render a template as Tinkerbell would.

FILE is a bare template body or a Tinkerbell ``Template`` document (the body in ``spec.data``).
It is rendered against a Tinkerbell ``Hardware`` document, without the database, and the
workflow is printed. The objects the Hardware's ``spec.references`` name are read from v1
``Secret``/``ConfigMap`` documents in the hardware file or in ``--references FILE``; the
workflow is printed: the rendered YAML, or with ``--format json`` the tasks and actions as an
agent receives them. Problems go to stderr as ``FILE:LINE:COL: message`` with positions in
FILE, so that editors and CI annotate the right line; the exit status is then 1.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

import yaml
from django.core.management.base import BaseCommand, CommandParser

from tinkerbell.formats import Document, ImportContext, TinkerbellImportError, parse_documents
from tinkerbell.formats.references import namespace_of, resolve_references
from tinkerbell.template_data import template_data
from workflows.rendering import TemplateRenderError, render_workflow

Position = tuple[int, int]
# "|", "|-", "|2+", ...: a literal block scalar header with its optional indentation digit.
_LITERAL_HEADER = re.compile(r"\|(?:[-+]?([1-9])|([1-9])?[-+]?)")


class _Refused(Exception):
    """Lines for stderr, each already saying which file it is about."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines)
        self.lines = lines


@dataclass
class TemplateSource:
    body: str
    name: str
    # Template (line, column) → (line, column) in the file the template came from.
    locate: Callable[[int, int], Position]


def _read(path: str) -> str:
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _Refused([f"{path}: cannot read: {reason}"]) from exc


def _child(mapping: yaml.Node | None, key: str) -> yaml.Node | None:
    if not isinstance(mapping, yaml.MappingNode):
        return None
    return next((value for name, value in mapping.value if name.value == key), None)


def _data_locator(
    text: str, key: yaml.Node, data: yaml.ScalarNode
) -> Callable[[int, int], Position]:
    """Map positions in ``spec.data`` onto the file.

    Exact for a literal block (``data: |``, as Tinkerbell's documents and ``kubectl get -o
    yaml`` write it): its lines are the file's lines, shifted down and indented. A quoted or
    folded scalar does not keep the template's lines, so its problems point at the scalar.
    """
    start = data.start_mark
    if data.style != "|":
        return lambda line, column: (start.line + 1, start.column + 1)
    header = _LITERAL_HEADER.match(text, start.index)
    digit = (header.group(1) or header.group(2)) if header else None
    lines = text.split("\n")
    if digit:
        indent = key.start_mark.column + int(digit)
    else:
        content = (line for line in lines[start.line + 1 :] if line.strip())
        first = next(content, "")
        indent = len(first) - len(first.lstrip(" "))
    # The header line is start.line (0-based); the body's line 1 is the file line after it.
    return lambda line, column: (start.line + 1 + line, column + indent)


def template_source(path: str, text: str) -> TemplateSource:
    """The template in ``text``: a ``Template`` document's ``spec.data``, or all of it."""
    bare = TemplateSource(body=text, name=Path(path).stem, locate=lambda line, col: (line, col))
    try:
        # Composing only builds nodes: a bare body with "{{ ... }}" often composes fine, and
        # is recognised as bare because no node says "kind: Template".
        documents = [
            node for node in yaml.compose_all(text, Loader=yaml.SafeLoader) if node is not None
        ]
    except yaml.YAMLError:
        return bare
    templates = [
        node for node in documents if getattr(_child(node, "kind"), "value", None) == "Template"
    ]
    if not templates:
        return bare
    if len(templates) > 1:
        names = [getattr(_child(_child(n, "metadata"), "name"), "value", "?") for n in templates]
        raise _Refused(
            [
                f"{path}: {len(templates)} Template documents ({', '.join(names)}); "
                "give a file with one"
            ]
        )
    document = templates[0]
    spec = _child(document, "spec")
    data = _child(spec, "data")
    if (
        not isinstance(spec, yaml.MappingNode)
        or not isinstance(data, yaml.ScalarNode)
        or data.tag != "tag:yaml.org,2002:str"
    ):
        where = (data or spec or document).start_mark
        raise _Refused(
            [f"{path}:{where.line + 1}:{where.column + 1}: the Template has no spec.data string"]
        )
    key = next(name for name, value in spec.value if value is data)
    name = getattr(_child(_child(document, "metadata"), "name"), "value", None)
    return TemplateSource(
        body=data.value, name=name or Path(path).stem, locate=_data_locator(text, key, data)
    )


def _documents(path: str, text: str) -> list[Document]:
    try:
        return parse_documents(text)
    except TinkerbellImportError as exc:
        raise _Refused([f"{path}: {error}" for error in exc.errors]) from exc


def referenced_objects(hardware: Document, sources: list[Document]) -> dict[str, Any]:
    """``.references``: what the Hardware's references name, among ``sources``."""
    spec = hardware.body.get("spec")
    references = spec.get("references") if isinstance(spec, dict) else None
    return resolve_references(
        references, namespace_of(hardware), ImportContext(sources), lambda warning: None
    )


def hardware_document(path: str, text: str, name: str | None) -> dict[str, Any]:
    return hardware_in(path, _documents(path, text), name).body


def hardware_in(path: str, documents: list[Document], name: str | None) -> Document:
    hardware = [doc for doc in documents if doc.body.get("kind") == "Hardware"]
    if name is not None:
        hardware = [doc for doc in hardware if doc.name == name]
    if len(hardware) == 1:
        return hardware[0]
    if not hardware:
        wanted = f"named {name!r}" if name else "(kind: Hardware)"
        raise _Refused([f"{path}: no Hardware document {wanted}"])
    names = ", ".join(doc.name or doc.label for doc in hardware)
    raise _Refused(
        [f"{path}: {len(hardware)} Hardware documents ({names}); pick one with --hardware-name"]
    )


def hardware_map(pairs: list[str], document: dict[str, Any]) -> dict[str, str]:
    """``--map KEY=VALUE`` pairs; without any, device_1 is the first interface's MAC."""
    mapping: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise _Refused([f"--map {pair!r}: expected KEY=VALUE, e.g. device_1=52:54:00:12:34:56"])
        mapping[key.strip()] = value
    if pairs:
        return mapping
    interfaces = (document.get("spec") or {}).get("interfaces") or []
    first = interfaces[0] if isinstance(interfaces, list) and interfaces else {}
    mac = ((first or {}).get("dhcp") or {}).get("mac") if isinstance(first, dict) else None
    return {"device_1": mac} if isinstance(mac, str) else {}


class Command(BaseCommand):
    help = (
        "Render a Tinkerbell template (a bare body or a Template document) against a Hardware "
        "document and print the workflow. Problems are printed as FILE:LINE:COL: message."
    )
    # Rendering needs no database; checks would only slow a tool meant for editors and CI.
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="template body, or a Tinkerbell Template document")
        parser.add_argument(
            "--hardware", required=True, metavar="FILE", help="Tinkerbell Hardware document"
        )
        parser.add_argument(
            "--hardware-name",
            metavar="NAME",
            help="the Hardware document to use when the file holds several",
        )
        parser.add_argument(
            "--map",
            action="append",
            default=[],
            dest="pairs",
            metavar="KEY=VALUE",
            help="hardware map entry, e.g. device_1=<MAC> (repeatable; default: device_1 is "
            "the first interface's MAC)",
        )
        parser.add_argument(
            "--references",
            action="append",
            default=[],
            dest="reference_files",
            metavar="FILE",
            help="v1 Secret/ConfigMap documents the Hardware's spec.references name "
            "(repeatable; those in the hardware file are read too)",
        )
        parser.add_argument("--format", choices=("yaml", "json"), default="yaml")

    def handle(
        self,
        *args: Any,
        file: str,
        hardware: str,
        hardware_name: str | None,
        pairs: list[str],
        format: str,
        reference_files: list[str],
        **options: Any,
    ) -> None:
        try:
            source = template_source(file, _read(file))
            documents = _documents(hardware, _read(hardware))
            found = hardware_in(hardware, documents, hardware_name)
            for path in reference_files:
                documents += _documents(path, _read(path))
            document = found.body
            data = template_data(
                document, hardware_map(pairs, document), referenced_objects(found, documents)
            )
            rendered = render_workflow(source.body, data, name=source.name)
        except _Refused as refused:
            self._fail(refused.lines)
        except TemplateRenderError as exc:
            lines = []
            for problem in exc.problems:
                line, column = source.locate(problem.line, problem.column)
                lines.append(f"{file}:{line}:{column}: {problem.message}")
            self._fail(lines)
        if format == "json":
            self.stdout.write(json.dumps(rendered.as_json(), indent=2))
        else:
            self.stdout.write(rendered.text)

    def _fail(self, lines: list[str]) -> NoReturn:
        for line in lines:
            # No colour styling: the lines are read by editors and CI as much as by people.
            self.stderr.write(line, style_func=lambda text: text)
        # Not CommandError, which would add "CommandError: " and change the format.
        raise SystemExit(1)

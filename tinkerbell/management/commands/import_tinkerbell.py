"""``manage.py import_tinkerbell FILE``: Tinkerbell documents into the inventory, all or none."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from rackpilot.core.actors import Actor
from tinkerbell.formats import TinkerbellImportError, import_documents


class Command(BaseCommand):
    help = (
        "Create or update machines from Tinkerbell Hardware documents (multi-document YAML, "
        "as given to kubectl apply). Every document is checked first; on any problem nothing "
        "is written."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("file", help="YAML file to read, or - for standard input")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check and report what would change, then write nothing",
        )

    def handle(self, *args: Any, file: str, dry_run: bool, **options: Any) -> None:
        source = "standard input" if file == "-" else file
        try:
            text = sys.stdin.read() if file == "-" else Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"cannot read {source}: {exc}") from exc
        try:
            result = import_documents(
                text=text, actor=Actor.system("import_tinkerbell"), dry_run=dry_run
            )
        except TinkerbellImportError as exc:
            for error in exc.errors:
                self.stderr.write(error)
            raise CommandError(
                f"{len(exc.errors)} problem(s) in {source}; nothing was imported"
            ) from None
        for warning in result.warnings:
            self.stderr.write(f"warning: {warning}")
        for imported in result.objects:
            self.stdout.write(str(imported))
        if dry_run:
            self.stdout.write("dry run: nothing was written")

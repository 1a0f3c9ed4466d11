"""``manage.py export_tinkerbell``: machines as Tinkerbell Hardware documents (YAML)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tinkerbell.formats import export_documents, hardware_export_queryset


class Command(BaseCommand):
    help = "Write machines as Tinkerbell Hardware documents (multi-document YAML)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--machine",
            action="append",
            default=[],
            dest="hostnames",
            metavar="HOSTNAME",
            help="export this machine (repeatable)",
        )
        parser.add_argument(
            "--all", action="store_true", dest="export_all", help="export every machine"
        )
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    def handle(
        self,
        *args: Any,
        hostnames: list[str],
        export_all: bool,
        output: str | None,
        **options: Any,
    ) -> None:
        if export_all == bool(hostnames):
            raise CommandError("give either --all or one or more --machine HOSTNAME")
        queryset = hardware_export_queryset()
        if export_all:
            machines = list(queryset)
        else:
            wanted = list(dict.fromkeys(hostnames))
            found = {m.hostname: m for m in queryset.filter(hostname__in=wanted)}
            unknown = [h for h in wanted if h not in found]
            if unknown:
                raise CommandError(f"no machine named {', '.join(unknown)}")
            machines = [found[h] for h in wanted]
        text = export_documents(machines=machines)
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc}") from exc
        else:
            self.stdout.write(text, ending="")

"""``manage.py export_tinkerbell``: machines as Tinkerbell Hardware documents (YAML), or with
``--workflow ID`` workflows as Workflow documents with their status."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from tinkerbell.formats import dump_documents, export_documents, hardware_export_queryset
from tinkerbell.formats.workflow_export import workflow_document
from workflows.models import Workflow


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
        parser.add_argument(
            "--workflow",
            action="append",
            default=[],
            dest="workflow_ids",
            type=int,
            metavar="ID",
            help="export this workflow, with its status (repeatable)",
        )
        parser.add_argument("--output", metavar="FILE", help="write here instead of stdout")

    def handle(
        self,
        *args: Any,
        hostnames: list[str],
        export_all: bool,
        output: str | None,
        workflow_ids: list[int],
        **options: Any,
    ) -> None:
        if workflow_ids:
            if export_all or hostnames:
                raise CommandError("give --workflow alone, or --all / --machine")
            workflows = Workflow.objects.select_related("template", "machine").in_bulk(workflow_ids)
            missing = [str(pk) for pk in workflow_ids if pk not in workflows]
            if missing:
                raise CommandError(f"no workflow #{', #'.join(missing)}")
            self._write(
                dump_documents(workflow_document(workflow=workflows[pk]) for pk in workflow_ids),
                output,
            )
            return
        if export_all == bool(hostnames):
            raise CommandError(
                "give either --all or one or more --machine HOSTNAME (or --workflow ID)"
            )
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
        self._write(export_documents(machines=machines), output)

    def _write(self, text: str, output: str | None) -> None:
        if output:
            try:
                Path(output).write_text(text, encoding="utf-8")
            except OSError as exc:
                raise CommandError(f"cannot write {output}: {exc}") from exc
        else:
            self.stdout.write(text, ending="")

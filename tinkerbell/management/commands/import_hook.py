"""``manage.py import_hook``: a released HookOS as a build netboot serves.

import_hook --arch x86_64 --url https://.../hook_x86_64.tar.gz --sha256 HEX [--default]
import_hook --arch x86_64 --archive hook_x86_64.tar.gz [--sha256 HEX]
import_hook --arch x86_64 --kernel vmlinuz-x86_64 --initramfs initramfs-x86_64
"""

from __future__ import annotations

from contextlib import ExitStack
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser

from rackpilot.core.actors import Actor
from tinkerbell.hookos import hookos_import


class Command(BaseCommand):
    help = "Import a released HookOS (hook_<arch>.tar.gz, or a kernel and an initramfs)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--arch", required=True, choices=["x86_64", "aarch64"])
        parser.add_argument("--url", default="", help="http(s) URL of hook_<arch>.tar.gz")
        parser.add_argument("--archive", type=Path, help="a local hook_<arch>.tar.gz")
        parser.add_argument("--sha256", default="", help="the archive's sha256 (URL: required)")
        parser.add_argument("--kernel", type=Path)
        parser.add_argument("--initramfs", type=Path)
        parser.add_argument("--kernel-sha256", default="")
        parser.add_argument("--initramfs-sha256", default="")
        parser.add_argument("--default", action="store_true", help="make it the arch's default")

    def handle(self, *args: Any, **options: Any) -> None:
        with ExitStack() as stack:
            files = {}
            for field in ("archive", "kernel", "initramfs"):
                path = options[field]
                if path is not None:
                    try:
                        files[field] = stack.enter_context(path.open("rb"))
                    except OSError as error:
                        raise CommandError(f"--{field} {path}: {error.strerror}") from None
            name = options["url"] or ", ".join(str(options[f]) for f in files)
            try:
                build = hookos_import(
                    actor=Actor.system("import_hook"),
                    arch=options["arch"],
                    url=options["url"],
                    sha256=options["sha256"],
                    kernel_sha256=options["kernel_sha256"],
                    initramfs_sha256=options["initramfs_sha256"],
                    make_default=options["default"],
                    name=name,
                    **files,
                )
            except ValidationError as error:
                problems = "; ".join(
                    f"{field}: {' '.join(messages)}"
                    for field, messages in error.message_dict.items()
                )
                raise CommandError(problems) from None
        default = " (the default)" if build.is_default else ""
        self.stdout.write(f"build #{build.pk}: HookOS for {build.arch}{default}")
        for artifact in build.artifacts.order_by("name"):
            self.stdout.write(f"  {artifact.name} {artifact.size} bytes sha256 {artifact.sha256}")

"""``manage.py build_hook_image --registry HOST:PORT``: build the Rackpilot Hook's kernel and
base images, push them, and point the shipped recipe at them.

The base image comes from Debian packages (debootstrap, kept in ``--cache``) and the project's
own agent; nothing is pulled from elsewhere. A build of the ``rackpilot-hook-<arch>`` recipe
then makes the kernel and initramfs that netboot serves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from builds.hook.base_image import (
    DEBIAN_ARCH,
    DEFAULT_MIRROR,
    DEFAULT_SUITE,
    HookImageError,
    build_hook_images,
)
from builds.hook.recipes import shipped_recipe_install
from rackpilot.core.actors import Actor


class Command(BaseCommand):
    help = "Build and push the Rackpilot Hook's kernel and base images; update its recipe."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--registry", required=True, help="where to push, e.g. 127.0.0.1:5000 or reg.example"
        )
        parser.add_argument("--arch", choices=sorted(DEBIAN_ARCH), default="x86_64")
        parser.add_argument(
            "--insecure", action="store_true", help="the registry speaks plain HTTP"
        )
        parser.add_argument(
            "--cache",
            type=Path,
            default=None,
            help="where debootstrap's root filesystem is kept between builds "
            "(default: <var>/hook-image)",
        )
        parser.add_argument("--suite", default=DEFAULT_SUITE, help="Debian suite")
        parser.add_argument("--mirror", default=DEFAULT_MIRROR, help="Debian mirror URL")

    def handle(self, *args: Any, **options: Any) -> None:
        cache = options["cache"] or Path(settings.VAR_DIR) / "hook-image"
        try:
            images = build_hook_images(
                registry=options["registry"],
                arch=options["arch"],
                cache_dir=cache,
                suite=options["suite"],
                mirror=options["mirror"],
                insecure=options["insecure"],
                log=lambda line: self.stdout.write(line),
            )
        except HookImageError as exc:
            raise CommandError(str(exc)) from exc
        recipe = shipped_recipe_install(
            arch=options["arch"],
            actor=Actor.system("build_hook_image"),
            kernel=images.kernel,
            base=images.base,
        )
        self.stdout.write(
            self.style.SUCCESS(
                f"pushed {images.kernel} (kernel {images.kernel_version}) and {images.base}; "
                f"recipe '{recipe.name}' uses them: build it on the Builds page or with "
                f'POST /api/v1/builds/ {{"recipe": "{recipe.name}"}}'
            )
        )

"""The recipes Rackpilot ships for its own Hook (``builds/recipes/rackpilot-hook-<arch>.yaml``),
installed as BuildRecipes by ``bootstrap`` and re-pointed by ``build_hook_image``."""

from __future__ import annotations

from pathlib import Path

from builds.models import BuildRecipe
from builds.services import recipes as recipe_services
from rackpilot.core.actors import Actor

RECIPES_DIR = Path(__file__).resolve().parent.parent / "recipes"
ARCHES = ("x86_64", "aarch64")
# The image references the shipped files carry: a registry on the Rackpilot host itself.
DEFAULT_KERNEL = "127.0.0.1:5000/rackpilot/hook-kernel:{arch}"
DEFAULT_BASE = "127.0.0.1:5000/rackpilot/hook-base:{arch}"


def shipped_recipe_name(arch: str) -> str:
    return f"rackpilot-hook-{arch}"


def shipped_recipe_config(arch: str, *, kernel: str | None = None, base: str | None = None) -> str:
    """The shipped recipe's text, with other image references if given."""
    text = (RECIPES_DIR / f"{shipped_recipe_name(arch)}.yaml").read_text()
    if kernel:
        text = text.replace(DEFAULT_KERNEL.format(arch=arch), kernel)
    if base:
        text = text.replace(DEFAULT_BASE.format(arch=arch), base)
    return text


def shipped_recipe_install(
    *, arch: str, actor: Actor, kernel: str | None = None, base: str | None = None
) -> BuildRecipe:
    """Create the shipped recipe for ``arch``, or update its images when it exists (an
    operator's own edits to other recipes are left alone)."""
    name = shipped_recipe_name(arch)
    existing = BuildRecipe.objects.filter(name=name).first()
    if existing is None:
        return recipe_services.recipe_create(
            actor=actor,
            name=name,
            config=shipped_recipe_config(arch, kernel=kernel, base=base),
            arches=[arch],
            description=f"The Rackpilot Hook for {arch} (builds/recipes/{name}.yaml).",
        )
    if kernel is None and base is None:
        return existing
    return recipe_services.recipe_update(
        recipe=existing, actor=actor, config=shipped_recipe_config(arch, kernel=kernel, base=base)
    )


def install_shipped_recipes(actor: Actor, demo: bool) -> str | None:
    """bootstrap's step: the Hook recipes Rackpilot ships, once; later runs leave them (and
    edits) alone."""
    names = [
        shipped_recipe_install(arch=arch, actor=actor).name
        for arch in ARCHES
        if not BuildRecipe.objects.filter(name=shipped_recipe_name(arch)).exists()
    ]
    if not names:
        return None
    return (
        f"Installed the Hook recipes {', '.join(names)}; build their images with "
        "`python manage.py build_hook_image --registry HOST:PORT` (README, Hook builds)."
    )

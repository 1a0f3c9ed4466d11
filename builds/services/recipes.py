"""Recipes: LinuxKit YAML kept verbatim, refused with ``LINE:COL: message`` when invalid."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction

from builds.models import BuildRecipe
from rackpilot.core.actors import Actor
from rackpilot.core.services import delete_with_event, editable_field_names, lock, save_with_event

RECIPE_FIELDS = editable_field_names(BuildRecipe, exclude={"created_by"})


def recipe_problems(config: str) -> list[str]:
    """The builder's findings on ``config``, each as ``LINE:COL: message``."""
    # Imported here: the builder is plain Python and heavy; the app loads without it.
    from builds.builder import check_recipe

    return [str(problem) for problem in check_recipe(config)]


def _check_config(values: dict[str, Any]) -> None:
    if "config" not in values:
        return
    problems = recipe_problems(values["config"])
    if problems:
        raise ValidationError({"config": problems})


@transaction.atomic
def recipe_create(*, actor: Actor, **values: Any) -> BuildRecipe:
    _check_config(values)
    recipe = BuildRecipe(created_by_id=actor.user_id)
    return save_with_event(
        recipe, actor=actor, verb="recipe.created", values=values, allowed=RECIPE_FIELDS
    )


@transaction.atomic
def recipe_update(*, recipe: BuildRecipe, actor: Actor, **values: Any) -> BuildRecipe:
    _check_config(values)
    return save_with_event(
        lock(recipe), actor=actor, verb="recipe.updated", values=values, allowed=RECIPE_FIELDS
    )


@transaction.atomic
def recipe_delete(*, recipe: BuildRecipe, actor: Actor) -> None:
    delete_with_event(recipe, actor=actor, verb="recipe.deleted")

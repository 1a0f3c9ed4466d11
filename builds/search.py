"""What the global search finds among builds (``#7``, ``7``) and recipes (by name)."""

from __future__ import annotations

from django.urls import reverse

from builds.models import Build, BuildRecipe
from rackpilot.core.search import SearchHit, object_number


def search_builds(query: str, limit: int) -> list[SearchHit]:
    number = object_number(query)
    if number is None:
        return []
    builds = Build.objects.select_related("recipe").filter(pk=number)
    return [
        SearchHit(
            kind="Build",
            label=f"#{build.pk} {build.recipe.name if build.recipe else build.source or 'HookOS'}",
            url=reverse("builds:build-detail", args=[build.pk]),
            detail=f"{build.get_state_display()} · {build.arch}",
            exact=True,
        )
        for build in builds[:limit]
    ]


def search_recipes(query: str, limit: int) -> list[SearchHit]:
    recipes = BuildRecipe.objects.filter(name__icontains=query).order_by("name")
    return [
        SearchHit(
            kind="Recipe",
            label=recipe.name,
            url=reverse("builds:recipe-detail", args=[recipe.pk]),
            exact=recipe.name.lower() == query.lower(),
        )
        for recipe in recipes[:limit]
    ]

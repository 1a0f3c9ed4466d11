"""One filter definition per model, for the dashboard pages and the API alike."""

from __future__ import annotations

import django_filters as filters

from builds.models import Build, BuildRecipe
from builds.states import Arch, BuildState
from rackpilot.core.filters import DateTimeFilter, IdFilter, SearchFilterSet


class RecipeFilterSet(SearchFilterSet):
    search_fields = ("name", "description")

    class Meta:
        model = BuildRecipe
        fields = ["name"]


class BuildFilterSet(SearchFilterSet):
    search_fields = ("recipe__name",)
    state = filters.MultipleChoiceFilter(choices=BuildState.choices)
    arch = filters.ChoiceFilter(choices=Arch.choices)
    recipe = filters.CharFilter(field_name="recipe__name", label="Recipe (name)")
    recipe_id = IdFilter(field_name="recipe_id")
    is_default = filters.BooleanFilter()
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")

    class Meta:
        model = Build
        fields = ["state", "arch", "recipe", "recipe_id", "is_default"]

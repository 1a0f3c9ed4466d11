"""Dashboard pages of the builds app: recipes, builds, and the live build page.

Thin views: reads through selectors and filtersets, every write through a service. Refusals
come back as form errors (forms) or flash messages (buttons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_POST

from builds import filtersets, selectors
from builds.forms import RecipeForm
from builds.list_columns import BUILD_COLUMNS
from builds.models import Build, BuildRecipe
from builds.services import lifecycle
from builds.services import recipes as recipe_services
from builds.states import BUILD_UNFINISHED, Arch, BuildState
from rackpilot.core import access
from rackpilot.core.access import requires
from rackpilot.core.actors import Actor
from rackpilot.core.code_listing import numbered_lines, problem_excerpt
from rackpilot.core.forms import parse_problems, save_through_service
from rackpilot.core.listing import export_view, list_page
from rackpilot.core.pages import run_page_command

RECENT_BUILDS = 10
RECIPE_ORDERINGS = {"name": ("name",), "updated": ("updated_at",)}
BUILD_ORDERINGS = {
    "id": ("id",),
    "state": ("state", "created_at"),
    "recipe": ("recipe__name", "created_at"),
    "arch": ("arch", "created_at"),
    "created": ("created_at",),
    "finished": ("finished_at",),
}


# --- recipes ---------------------------------------------------------------------------------


@requires("builds.view_buildrecipe")
def recipe_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.RecipeFilterSet(
        request.GET, queryset=selectors.recipe_list().defer("config")
    )
    return list_page(
        request,
        filterset=filterset,
        orderings=RECIPE_ORDERINGS,
        template="builds/recipe_list.html",
        partial="builds/partials/recipe_table.html",
    )


@requires("builds.view_buildrecipe")
def recipe_detail(request: HttpRequest, pk: int) -> HttpResponse:
    recipe = get_object_or_404(BuildRecipe.objects.select_related("created_by"), pk=pk)
    builds = selectors.build_list().filter(recipe=recipe)
    context = {
        "recipe": recipe,
        "lines": numbered_lines(recipe.config),
        "warnings": selectors.recipe_warnings(recipe.config),
        "recent_builds": builds[:RECENT_BUILDS],
        "build_count": builds.count(),
    }
    return render(request, "builds/recipe_detail.html", context)


def _recipe_form_page(
    request: HttpRequest, form: RecipeForm, recipe: BuildRecipe | None
) -> HttpResponse:
    form.mark_invalid()
    config = form["config"].value() or ""
    problems, unlocated = parse_problems(str(m) for m in form.errors.get("config", []))
    lines = numbered_lines(config, problems)
    context = {
        "form": form,
        "recipe": recipe,
        "problems": problems,
        "unlocated_problems": unlocated,
        "excerpt": problem_excerpt(lines) if problems else [],
    }
    status = 400 if form.is_bound and form.errors else 200
    return render(request, "builds/recipe_form.html", context, status=status)


@requires("builds.add_buildrecipe")
def recipe_create(request: HttpRequest) -> HttpResponse:
    form = RecipeForm(request.POST if request.method == "POST" else None)
    if request.method == "POST":
        recipe = save_through_service(request, form, recipe_services.recipe_create)
        if recipe is not None:
            messages.success(request, f"Recipe {recipe.name} created.")
            return redirect("builds:recipe-detail", pk=recipe.pk)
    return _recipe_form_page(request, form, recipe=None)


@requires("builds.change_buildrecipe")
def recipe_edit(request: HttpRequest, pk: int) -> HttpResponse:
    recipe = get_object_or_404(BuildRecipe, pk=pk)
    initial = {
        "name": recipe.name,
        "arches": recipe.arches,
        "description": recipe.description,
        "config": recipe.config,
    }
    form = RecipeForm(request.POST if request.method == "POST" else None, initial=initial)
    if request.method == "POST":

        def update(**values: Any) -> BuildRecipe:
            return recipe_services.recipe_update(recipe=recipe, **values)

        saved = save_through_service(request, form, update)
        if saved is not None:
            messages.success(request, f"Recipe {saved.name} saved.")
            return redirect("builds:recipe-detail", pk=saved.pk)
    return _recipe_form_page(request, form, recipe=recipe)


@require_POST
@requires(access.RUN_BUILD)
def recipe_build(request: HttpRequest, pk: int) -> HttpResponse:
    recipe = get_object_or_404(BuildRecipe, pk=pk)
    arch = request.POST.get("arch") or None
    try:
        builds = lifecycle.build_queue(recipe=recipe, actor=Actor.for_user(request.user), arch=arch)
    except ValidationError as exc:
        messages.error(request, f"Not queued: {'; '.join(exc.messages)}")
        return redirect("builds:recipe-detail", pk=pk)
    names = ", ".join(f"#{b.pk} ({b.arch})" for b in builds)
    messages.success(request, f"Queued build {names}.")
    if len(builds) == 1:
        return redirect("builds:build-detail", pk=builds[0].pk)
    return redirect(f"/builds/?recipe={recipe.name}")


# --- builds ----------------------------------------------------------------------------------


@requires("builds.view_build")
def build_list(request: HttpRequest) -> HttpResponse:
    filterset = filtersets.BuildFilterSet(request.GET, queryset=selectors.build_list())
    extra = {
        "states": BuildState.choices,
        "arches": Arch.choices,
        "recipes": BuildRecipe.objects.only("name").order_by("name"),
    }
    return list_page(
        request,
        filterset=filterset,
        orderings=BUILD_ORDERINGS,
        template="builds/build_list.html",
        partial="builds/partials/build_table.html",
        extra=extra,
        columns=BUILD_COLUMNS,
        export="builds:build-list-export",
    )


build_list_export = export_view(
    permission="builds.view_build",
    filterset=filtersets.BuildFilterSet,
    rows=selectors.build_list,
    orderings=BUILD_ORDERINGS,
    columns=BUILD_COLUMNS,
    name="builds",
)


@requires("builds.view_build")
def build_detail(request: HttpRequest, pk: int) -> HttpResponse:
    build = get_object_or_404(selectors.build_detail(), pk=pk)
    context = {
        "build": build,
        "artifacts": build.artifacts.all(),
        "can_cancel": build.state in BUILD_UNFINISHED and not build.cancel_requested,
        "can_make_default": not build.is_default and selectors.can_be_default(build),
        "live": build.state in BUILD_UNFINISHED,
    }
    return render(request, "builds/build_detail.html", context)


def _command(request: HttpRequest, build: Build, verb: str, run: Callable[[], Any]) -> HttpResponse:
    def run_to_the_end() -> bool:
        run()
        return True  # the services return nothing or the build: success is getting here

    if run_page_command(request, f"Build #{build.pk}", verb, run_to_the_end):
        messages.success(request, f"Build #{build.pk} {verb}.")
    return redirect("builds:build-detail", pk=build.pk)


@require_POST
@requires(access.RUN_BUILD)
def build_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    build = get_object_or_404(Build, pk=pk)
    actor = Actor.for_user(request.user)
    return _command(
        request, build, "cancelled", lambda: lifecycle.build_cancel(build=build, actor=actor)
    )


@require_POST
@requires(access.RUN_BUILD)
def build_set_default(request: HttpRequest, pk: int) -> HttpResponse:
    build = get_object_or_404(Build, pk=pk)
    actor = Actor.for_user(request.user)
    return _command(
        request,
        build,
        f"made the default {build.arch} build",
        lambda: lifecycle.build_set_default(build=build, actor=actor),
    )

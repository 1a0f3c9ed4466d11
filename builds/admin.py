"""Admin for recipes (edited through their services), builds and their artifacts.

Builds are never edited field by field: the admin shows them and offers the operator
commands (queue again, cancel, make default) as actions, which go through the services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from builds.models import Build, BuildArtifact, BuildRecipe
from builds.services import lifecycle
from builds.services import recipes as recipe_services
from rackpilot.core import access
from rackpilot.core.actors import Actor
from rackpilot.core.admin_services import ServiceModelAdmin
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.statemachine import TransitionError


def _run_each(
    modeladmin: admin.ModelAdmin,
    request: HttpRequest,
    objects: QuerySet[Any],
    command: Callable[[Any, Actor], Any],
    done: str,
) -> None:
    actor = Actor.for_user(request.user)
    succeeded = 0
    for obj in objects:
        try:
            command(obj, actor)
            succeeded += 1
        except (TransitionError, ConflictError, ValidationError) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            modeladmin.message_user(request, f"{obj}: {text}", messages.WARNING)
    modeladmin.message_user(request, f"{succeeded} {done}.", messages.SUCCESS)


@admin.register(BuildRecipe)
class BuildRecipeAdmin(ServiceModelAdmin):
    create_service = recipe_services.recipe_create
    update_service = recipe_services.recipe_update
    delete_service = recipe_services.recipe_delete
    instance_kwarg = "recipe"
    service_fields = recipe_services.RECIPE_FIELDS

    list_display = ["name", "arches", "description", "updated_at"]
    search_fields = ["name", "description", "config"]
    readonly_fields = ["created_at", "updated_at"]
    actions = ["queue_builds"]

    def has_run_build_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(access.RUN_BUILD))

    @admin.action(
        description="Build selected recipes (every architecture)", permissions=["run_build"]
    )
    def queue_builds(self, request: HttpRequest, queryset: QuerySet[BuildRecipe]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda recipe, actor: lifecycle.build_queue(recipe=recipe, actor=actor),
            "recipe(s) queued",
        )


class ArtifactInline(admin.TabularInline):
    model = BuildArtifact
    extra = 0
    can_delete = False
    fields = ["name", "size", "sha256", "path"]
    readonly_fields = ["name", "size", "sha256", "path"]

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Build)
class BuildAdmin(admin.ModelAdmin):
    list_display = ["id", "recipe", "arch", "state", "progress", "is_default", "created_at"]
    list_filter = ["state", "arch", "is_default", "recipe"]
    search_fields = ["recipe__name", "celery_task_id"]
    list_select_related = ["recipe"]
    date_hierarchy = "created_at"
    inlines = [ArtifactInline]
    actions = ["cancel", "make_default"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in Build._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_run_build_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(access.RUN_BUILD))

    @admin.action(description="Cancel selected builds", permissions=["run_build"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Build]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda build, actor: lifecycle.build_cancel(build=build, actor=actor),
            "build(s) cancelled or asked to stop",
        )

    @admin.action(
        description="Make the selected build the default for its arch", permissions=["run_build"]
    )
    def make_default(self, request: HttpRequest, queryset: QuerySet[Build]) -> None:
        _run_each(
            self,
            request,
            queryset,
            lambda build, actor: lifecycle.build_set_default(build=build, actor=actor),
            "build(s) made default",
        )


@admin.register(BuildArtifact)
class BuildArtifactAdmin(admin.ModelAdmin):
    list_display = ["name", "build", "size", "sha256"]
    search_fields = ["name", "sha256"]
    list_select_related = ["build__recipe"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in BuildArtifact._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

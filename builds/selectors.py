"""Reads of the builds app that keep query counts flat."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from builds.models import Build, BuildArtifact, BuildLogLine, BuildRecipe
from builds.states import BuildState


def recipe_list() -> QuerySet[BuildRecipe]:
    return BuildRecipe.objects.order_by("name")


def recipe_warnings(config: str) -> list[str]:
    """What builds but deserves a word (an ignored ``trust``, files read on the build host),
    each as ``LINE:COL: message``; nothing for a recipe with problems (those are refused)."""
    # Imported here: the builder is plain Python and heavy; the app loads without it.
    from builds.builder import lint_recipe

    return [str(warning) for warning in lint_recipe(config)[1]]


def build_list() -> QuerySet[Build]:
    """Builds with their recipe and artifacts; the log and the config are left for details."""
    return (
        Build.objects.select_related("recipe")
        .defer("config", "recipe__config")
        .prefetch_related(Prefetch("artifacts", queryset=BuildArtifact.objects.order_by("name")))
        .order_by("-created_at", "-id")
    )


def build_detail() -> QuerySet[Build]:
    return (
        Build.objects.select_related("recipe", "created_by")
        .prefetch_related(Prefetch("artifacts", queryset=BuildArtifact.objects.order_by("name")))
        .order_by("-created_at", "-id")
    )


def default_artifact(*, arch: str, name: str) -> BuildArtifact | None:
    """The artifact netboot serves: ``name`` of the default successful build for ``arch``."""
    return (
        BuildArtifact.objects.select_related("build")
        .filter(
            build__arch=arch, build__is_default=True, build__state=BuildState.SUCCESS, name=name
        )
        .first()
    )


def build_log_after(build_id: int, after_seq: int, *, limit: int) -> list[BuildLogLine]:
    return list(
        BuildLogLine.objects.filter(build_id=build_id, seq__gt=after_seq).order_by("seq")[:limit]
    )


def servable_names(arch: str) -> set[str]:
    """The files netboot needs from the default build of ``arch``."""
    return {f"vmlinuz-{arch}", f"initramfs-{arch}"}


def can_be_default(build: Build) -> bool:
    """A successful build with a kernel and an initramfs to serve."""
    if build.state != BuildState.SUCCESS:
        return False
    names = {artifact.name for artifact in build.artifacts.all()}
    return servable_names(build.arch) <= names

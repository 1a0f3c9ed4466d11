"""The columns of the build list and of its CSV export (artifacts by name, size and digest;
never the build's log or configuration)."""

from __future__ import annotations

from builds.models import Build
from rackpilot.core.columns import Column, column_set


def _artifacts(build: Build) -> list[str]:
    return [f"{artifact.name} ({artifact.size} bytes)" for artifact in build.artifacts.all()]


def _digests(build: Build) -> list[str]:
    return [f"{artifact.name} sha256:{artifact.sha256}" for artifact in build.artifacts.all()]


BUILD_COLUMNS = column_set(
    "builds",
    [
        Column("id", "#", lambda b: b.pk, sort="id", locked=True),
        Column("recipe", "Recipe", lambda b: b.label, sort="recipe"),
        Column("arch", "Arch", lambda b: b.arch, sort="arch"),
        Column("state", "State", lambda b: b.state, sort="state"),
        Column("default", "Default", lambda b: b.is_default, default=False),
        Column("progress", "Progress", lambda b: b.progress),
        Column("created", "Created", lambda b: b.created_at, sort="created"),
        Column("finished", "Finished", lambda b: b.finished_at, sort="finished", default=False),
        Column("duration", "Duration", lambda b: b.duration),
        Column("artifacts", "Artifacts", _artifacts),
        Column("sha256", "SHA-256", _digests, default=False),
    ],
)

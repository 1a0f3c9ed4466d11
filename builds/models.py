from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone

from builds.states import Arch, BuildState


def validate_arches(value: object) -> None:
    if not isinstance(value, list) or not value:
        raise ValidationError("Give at least one architecture.")
    unknown = sorted({str(v) for v in value} - set(Arch.values))
    if unknown:
        raise ValidationError(
            f"Unknown architecture(s): {', '.join(unknown)} (known: {', '.join(Arch.values)})."
        )
    if len(set(value)) != len(value):
        raise ValidationError("An architecture is listed twice.")


class BuildRecipe(models.Model):
    """A LinuxKit YAML recipe for a Hook image, kept verbatim."""

    name = models.CharField(
        max_length=200,
        unique=True,
        error_messages={"unique": "A recipe with this name already exists."},
    )
    config = models.TextField(help_text="LinuxKit YAML (kernel, init, onboot, services, files).")
    arches = models.JSONField(
        default=list,
        validators=[validate_arches],
        help_text='Architectures to build, e.g. ["x86_64", "aarch64"].',
    )
    description = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Build(models.Model):
    """One recipe built for one architecture by a Celery task, or a released HookOS imported
    as it was published (no recipe)."""

    State = BuildState

    class Kind(models.TextChoices):
        RECIPE = "recipe", "Built from a recipe"
        HOOKOS = "hookos", "Imported HookOS release"

    recipe = models.ForeignKey(
        BuildRecipe, on_delete=models.PROTECT, related_name="builds", null=True, blank=True
    )
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.RECIPE)
    # Where an imported build's files came from (a URL, or the uploaded file's name).
    source = models.CharField(max_length=1000, blank=True)
    arch = models.CharField(max_length=16, choices=Arch.choices)
    # The recipe as it was when the build was queued: later edits never change a build.
    config = models.TextField(blank=True)
    state = models.CharField(
        max_length=16, choices=BuildState.choices, default=BuildState.QUEUED, db_index=True
    )
    progress = models.PositiveSmallIntegerField(default=0)
    current_step = models.CharField(max_length=200, blank=True)
    error = models.TextField(blank=True)
    steps = models.JSONField(
        default=list, blank=True, help_text='[{"name": ..., "seconds": ...}] of a finished build.'
    )
    cache_hits = models.PositiveIntegerField(default=0)
    downloaded_bytes = models.PositiveBigIntegerField(default=0)
    # Highest log seq stored: browsers resume after it.
    log_seq = models.PositiveBigIntegerField(default=0)
    # Set by build_cancel on a running build; the task's should_cancel reads it.
    cancel_requested = models.BooleanField(default=False)
    is_default = models.BooleanField(
        default=False, help_text="The build netboot serves for its architecture."
    )
    heartbeat_at = models.DateTimeField(null=True, blank=True, db_index=True)
    celery_task_id = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # When the sweep sent a build still queued to the workers again (its message was lost).
    requeued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("run_build", "Can queue and cancel builds and choose the default build")]
        constraints = [
            models.UniqueConstraint(
                fields=["arch"],
                condition=models.Q(is_default=True),
                name="build_one_default_per_arch",
                violation_error_message="Another build is already the default for this arch.",
            ),
            models.CheckConstraint(
                condition=models.Q(progress__lte=100), name="build_progress_at_most_100"
            ),
        ]

    def __str__(self) -> str:
        return f"#{self.pk} {self.label} ({self.arch})"

    @property
    def label(self) -> str:
        """What the build is of: its recipe's name, or "HookOS" for an imported release."""
        if self.recipe_id is not None and self.recipe is not None:
            return self.recipe.name
        return "HookOS" if self.kind == self.Kind.HOOKOS else "-"

    @property
    def is_finished(self) -> bool:
        return self.state in {BuildState.SUCCESS, BuildState.FAILED, BuildState.CANCELLED}

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class BuildLogLine(models.Model):
    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="log_lines")
    seq = models.PositiveBigIntegerField()
    timestamp = models.DateTimeField()
    text = models.TextField()

    class Meta:
        ordering = ["build", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["build", "seq"], name="buildlogline_unique_seq"),
        ]

    def __str__(self) -> str:
        return f"{self.build_id}#{self.seq}"


class BuildArtifact(models.Model):
    """A file a build produced (``vmlinuz-<arch>``, ``initramfs-<arch>``)."""

    build = models.ForeignKey(Build, on_delete=models.CASCADE, related_name="artifacts")
    name = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    path = models.CharField(max_length=500, help_text="Relative to settings.BUILD_ARTIFACTS_DIR.")

    class Meta:
        ordering = ["build", "name"]
        constraints = [
            models.UniqueConstraint(fields=["build", "name"], name="buildartifact_unique_name"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def full_path(self) -> Path:
        return Path(settings.BUILD_ARTIFACTS_DIR) / self.path

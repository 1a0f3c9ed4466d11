"""Power jobs: one power request to a machine's BMC each, run by a Celery worker."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from inventory.states import PowerJobState


class PowerJob(models.Model):
    """One power request to a machine's BMC, run by a Celery worker: what was asked, by whom,
    and how it ended (the BMC's own error when it refused)."""

    class Action(models.TextChoices):
        ON = "on", "Power on"
        OFF = "off", "Power off"
        SOFT_OFF = "soft_off", "Soft power off"
        CYCLE = "cycle", "Power cycle"
        RESET = "reset", "Reset"
        STATUS = "status", "Read power state"
        INVENTORY = "inventory", "Read inventory"

    class BootDevice(models.TextChoices):
        NONE = "", "Unchanged"
        PXE = "pxe", "PXE"
        DISK = "disk", "Disk"

    machine = models.ForeignKey(
        "inventory.Machine", on_delete=models.CASCADE, related_name="power_jobs"
    )
    action = models.CharField(max_length=10, choices=Action.choices)
    boot_device = models.CharField(
        max_length=4,
        choices=BootDevice.choices,
        blank=True,
        help_text="Set before the action: the next boot (or every boot, if persistent).",
    )
    persistent = models.BooleanField(default=False)
    state = models.CharField(
        max_length=8, choices=PowerJobState.choices, default=PowerJobState.QUEUED, db_index=True
    )
    error = models.TextField(blank=True)
    power_state = models.CharField(
        max_length=8, blank=True, help_text="What the BMC reported when the job finished."
    )
    requested_by = models.CharField(max_length=150, blank=True)
    reason = models.CharField(max_length=200, blank=True)
    # Who needs the outcome, for the listeners told when the job ends (e.g. "workflow:12:start"
    # for the custom-boot job that starts workflow 12); blank for a job an operator asked for.
    purpose = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    # When the sweep sent a job still queued to the workers again (its message was lost).
    requeued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        indexes = [models.Index(fields=["machine", "-created_at"], name="powerjob_machine_recent")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} #{self.pk}"

    @property
    def duration(self) -> float | None:
        """Seconds from start to finish (or to now, while running); None until a worker starts
        it. In Python: SQLite has no native duration arithmetic to do it in the query."""
        if self.started_at is None:
            return None
        return ((self.finished_at or timezone.now()) - self.started_at).total_seconds()

from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models


class Event(models.Model):
    """One entry of the audit log and of a machine's timeline."""

    class ActorKind(models.TextChoices):
        USER = "user", "User"
        AGENT = "agent", "Agent"
        SYSTEM = "system", "System"

    timestamp = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_kind = models.CharField(max_length=16, choices=ActorKind.choices)
    actor_name = models.CharField(max_length=150)
    actor_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    verb = models.CharField(max_length=64, db_index=True)
    content_type = models.ForeignKey(
        ContentType, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    object_id = models.CharField(max_length=64, blank=True)
    object_repr = models.CharField(max_length=255, blank=True)
    # The machine whose timeline shows this event (the machine itself or one of its parts).
    machine = models.ForeignKey(
        "inventory.Machine", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )
    changes = models.JSONField(default=dict, blank=True)
    message = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True)

    class Meta:
        ordering = ["-timestamp", "-id"]
        indexes = [models.Index(fields=["machine", "-timestamp"], name="event_machine_time")]

    def __str__(self) -> str:
        return (
            f"{self.timestamp:%Y-%m-%d %H:%M:%S} {self.actor_name} {self.verb} {self.object_repr}"
        )

    @property
    def object_type(self) -> str:
        return self.content_type.model if self.content_type_id and self.content_type else ""

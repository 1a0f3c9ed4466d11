from rest_framework import serializers

from rackpilot.core.models import Event


class EventSerializer(serializers.ModelSerializer):
    object_type = serializers.CharField(read_only=True)

    class Meta:
        model = Event
        fields = [
            "id",
            "timestamp",
            "actor_kind",
            "actor_name",
            "verb",
            "object_type",
            "object_id",
            "object_repr",
            "machine",
            "changes",
            "message",
            "request_id",
        ]

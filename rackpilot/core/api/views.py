from rest_framework.viewsets import ReadOnlyModelViewSet

from rackpilot.core.api.serializers import EventSerializer
from rackpilot.core.filters import EventFilterSet
from rackpilot.core.models import Event


class EventViewSet(ReadOnlyModelViewSet):
    """The audit log: every change made through Rackpilot's services."""

    queryset = Event.objects.select_related("content_type")
    serializer_class = EventSerializer
    filterset_class = EventFilterSet
    ordering_fields = ["timestamp", "verb"]

"""A ModelViewSet whose writes go through service functions, never ``serializer.save()``."""

from collections.abc import Callable
from typing import Any

from django.db import models
from rest_framework import status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from rackpilot.core.actors import Actor


class ServiceModelViewSet(viewsets.ModelViewSet):
    # Each is called as service(actor=..., **validated_data) / (instance, actor=..., **data).
    create_service: Callable[..., models.Model]
    update_service: Callable[..., models.Model]
    delete_service: Callable[..., None]
    instance_kwarg: str = "instance"

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        instance = type(self).create_service(actor=self.actor(), **serializer.validated_data)
        return Response(self.output(instance), status=status.HTTP_201_CREATED)

    def update(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        partial = kwargs.pop("partial", False)
        instance = self.get_object()
        serializer = self.get_serializer(instance, data=request.data, partial=partial)
        serializer.is_valid(raise_exception=True)
        values = self.update_values(instance, dict(serializer.validated_data))
        instance = type(self).update_service(
            **{self.instance_kwarg: instance}, actor=self.actor(), **values
        )
        return Response(self.output(instance))

    def update_values(self, instance: models.Model, values: dict[str, Any]) -> dict[str, Any]:
        """Hook to drop or reshape validated values before the update service sees them."""
        return values

    def destroy(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        type(self).delete_service(**{self.instance_kwarg: self.get_object()}, actor=self.actor())
        return Response(status=status.HTTP_204_NO_CONTENT)

    def output(self, instance: models.Model) -> Any:
        # Re-read through the list queryset so the answer has the same shape and relations.
        fresh = self.get_queryset().get(pk=instance.pk)
        return self.get_serializer(fresh).data

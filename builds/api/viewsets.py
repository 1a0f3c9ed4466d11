from __future__ import annotations

from typing import Any

from django.http import Http404, HttpResponseBase
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from builds import filtersets, selectors
from builds.api import serializers
from builds.downloads import serve_artifact
from builds.models import BuildLogLine
from builds.services import lifecycle
from builds.services import recipes as recipe_services
from rackpilot.core import access
from rackpilot.core.actors import Actor
from rackpilot.core.api.viewsets import ServiceModelViewSet
from rackpilot.core.log_text import lines_by_seq, text_attachment

LOG_PAGE_MAX = 5000


class RecipeViewSet(ServiceModelViewSet):
    queryset = selectors.recipe_list()
    serializer_class = serializers.RecipeSerializer
    filterset_class = filtersets.RecipeFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]
    create_service = staticmethod(recipe_services.recipe_create)
    update_service = staticmethod(recipe_services.recipe_update)
    delete_service = staticmethod(recipe_services.recipe_delete)
    instance_kwarg = "recipe"


class BuildViewSet(mixins.RetrieveModelMixin, mixins.ListModelMixin, viewsets.GenericViewSet):
    """Builds are queued, watched, cancelled and made the default — never edited."""

    queryset = selectors.build_list()
    serializer_class = serializers.BuildSerializer
    filterset_class = filtersets.BuildFilterSet
    action_permissions = {
        "create": (access.RUN_BUILD,),
        "cancel": (access.RUN_BUILD,),
        "set_default": (access.RUN_BUILD,),
        "log": ("builds.view_build",),
        "log_text": ("builds.view_build",),
        "artifact": ("builds.view_build",),
    }
    ordering_fields = ["created_at", "started_at", "finished_at", "state", "arch"]

    def get_queryset(self) -> Any:
        if self.action in {"retrieve", "artifact"}:
            return selectors.build_detail()
        return super().get_queryset()

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return serializers.BuildDetailSerializer
        return super().get_serializer_class()

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    def _answer(self, build: Any, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.build_detail().get(pk=build.pk)
        return Response(serializers.BuildDetailSerializer(fresh).data, status=code)

    @extend_schema(
        request=serializers.BuildQueueSerializer,
        responses={201: serializers.BuildSerializer(many=True)},
        description="Queue a build of the recipe: one per architecture, or the one given.",
    )
    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = serializers.BuildQueueSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        builds = lifecycle.build_queue(actor=self.actor(), **body.validated_data)
        fresh = selectors.build_list().filter(pk__in=[b.pk for b in builds]).order_by("pk")
        return Response(
            serializers.BuildSerializer(fresh, many=True).data, status=status.HTTP_201_CREATED
        )

    @extend_schema(request=None, responses={200: serializers.BuildDetailSerializer})
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(lifecycle.build_cancel(build=self.get_object(), actor=self.actor()))

    @extend_schema(request=None, responses={200: serializers.BuildDetailSerializer})
    @action(detail=True, methods=["post"], url_path="set-default")
    def set_default(self, request: Request, pk: str | None = None) -> Response:
        build = lifecycle.build_set_default(build=self.get_object(), actor=self.actor())
        return self._answer(build)

    @extend_schema(
        parameters=[
            OpenApiParameter("after_seq", int, description="Lines after this seq (default 0)."),
            OpenApiParameter("limit", int, description=f"At most this many (≤ {LOG_PAGE_MAX})."),
        ],
        responses={200: serializers.BuildLogLineSerializer(many=True)},
    )
    # A plain list from after_seq on, not a page of the viewset's pagination.
    @action(detail=True, methods=["get"], pagination_class=None)
    def log(self, request: Request, pk: str | None = None) -> Response:
        build = self.get_object()
        try:
            after = int(request.query_params.get("after_seq", 0))
            limit = min(int(request.query_params.get("limit", 1000)), LOG_PAGE_MAX)
        except ValueError as exc:
            raise ValidationError({"after_seq": "Whole numbers only."}) from exc
        lines = selectors.build_log_after(build.pk, after, limit=max(limit, 1))
        return Response(serializers.BuildLogLineSerializer(lines, many=True).data)

    @extend_schema(
        responses={(200, "text/plain"): OpenApiTypes.STR},
        description="The whole log as a text download, one timestamped line per line.",
    )
    def log_text(self, request: Request, pk: str | None = None) -> HttpResponseBase:
        build = self.get_object()
        lines = (
            f"{line.timestamp.isoformat()} {line.text}\n"
            for line in lines_by_seq(BuildLogLine.objects.filter(build=build))
        )
        return text_attachment(lines, f"build-{build.pk}.log")

    @extend_schema(
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            (206, "application/octet-stream"): OpenApiTypes.BINARY,
        },
        description="Download an artifact; supports HTTP Range (206, 416).",
    )
    def artifact(self, request: Request, pk: str | None = None, name: str = "") -> HttpResponseBase:
        build = self.get_object()
        artifact = next((a for a in build.artifacts.all() if a.name == name), None)
        if artifact is None:
            raise Http404(f"Build #{build.pk} has no artifact {name!r}.")
        return serve_artifact(request, artifact, attachment=True)

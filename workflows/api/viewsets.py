from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from inventory.api.selection import selection_from_body
from rackpilot.core import access
from rackpilot.core.actors import Actor
from rackpilot.core.api.viewsets import ServiceModelViewSet
from workflows import filtersets, selectors
from workflows.api import serializers
from workflows.services import engine
from workflows.services import templates as template_services


class TemplateViewSet(ServiceModelViewSet):
    queryset = selectors.template_list()
    serializer_class = serializers.TemplateSerializer
    filterset_class = filtersets.TemplateFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]
    create_service = staticmethod(template_services.template_create)
    update_service = staticmethod(template_services.template_update)
    delete_service = staticmethod(template_services.template_delete)
    instance_kwarg = "template"


class WorkflowViewSet(
    mixins.CreateModelMixin,
    mixins.RetrieveModelMixin,
    mixins.ListModelMixin,
    viewsets.GenericViewSet,
):
    """Workflows are created, watched, cancelled, retried and re-run — never edited."""

    queryset = selectors.workflow_list()
    serializer_class = serializers.WorkflowSerializer
    filterset_class = filtersets.WorkflowFilterSet
    action_permissions = {
        "create": (access.RUN_WORKFLOW,),
        "cancel": (access.RUN_WORKFLOW,),
        "retry": (access.RUN_WORKFLOW,),
        "rerun": (access.RUN_WORKFLOW,),
        "bulk": (access.RUN_WORKFLOW,),
    }
    ordering_fields = ["created_at", "started_at", "finished_at", "state"]

    def get_queryset(self) -> Any:
        if self.action == "retrieve":
            return selectors.workflow_detail()
        return super().get_queryset()

    def get_serializer_class(self) -> Any:
        if self.action == "retrieve":
            return serializers.WorkflowDetailSerializer
        return super().get_serializer_class()

    def actor(self) -> Actor:
        return Actor.for_user(self.request.user)

    def _answer(self, workflow: Any, code: int = status.HTTP_200_OK) -> Response:
        fresh = selectors.workflow_detail().get(pk=workflow.pk)
        answer = serializers.WorkflowDetailSerializer(fresh, context=self.get_serializer_context())
        return Response(answer.data, status=code)

    def create(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        body = self.get_serializer(data=request.data)
        body.is_valid(raise_exception=True)
        workflow = engine.workflow_create(actor=self.actor(), **body.validated_data)
        return self._answer(workflow, status.HTTP_201_CREATED)

    @extend_schema(
        request=serializers.WorkflowCancelSerializer,
        responses={200: serializers.WorkflowDetailSerializer},
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        body = serializers.WorkflowCancelSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workflow = engine.workflow_cancel(
            workflow=self.get_object(), actor=self.actor(), reason=body.validated_data["reason"]
        )
        return self._answer(workflow)

    @extend_schema(request=None, responses={200: serializers.WorkflowDetailSerializer})
    @action(detail=True, methods=["post"])
    def retry(self, request: Request, pk: str | None = None) -> Response:
        return self._answer(engine.workflow_retry(workflow=self.get_object(), actor=self.actor()))

    @extend_schema(request=None, responses={201: serializers.WorkflowDetailSerializer})
    @action(detail=True, methods=["post"])
    def rerun(self, request: Request, pk: str | None = None) -> Response:
        workflow = engine.workflow_rerun(workflow=self.get_object(), actor=self.actor())
        return self._answer(workflow, status.HTTP_201_CREATED)

    @extend_schema(
        request=serializers.WorkflowBulkSerializer,
        responses={
            201: serializers.WorkflowBulkResultSerializer,
            400: OpenApiResponse(
                description="Errors by field, or (with selected, created and refused) every "
                "selected machine refused and nothing created."
            ),
        },
        description="Start a template on every machine matching the filter, one workflow each. "
        "All machines are validated first; with any refusal nothing is created unless "
        "skip_refused is set.",
    )
    @action(detail=False, methods=["post"])
    def bulk(self, request: Request) -> Response:
        body = serializers.WorkflowBulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        selection = selection_from_body(body.validated_data)
        if not selection.count:
            raise ValidationError({"filter": "No machine matches the filter."})
        result = engine.workflow_bulk_create(
            template=body.validated_data["template"],
            machines=selection.machines(),
            actor=self.actor(),
            skip_refused=body.validated_data["skip_refused"],
            disable_pxe_on_success=body.validated_data["disable_pxe_on_success"],
            boot_into_pxe=body.validated_data["boot_into_pxe"],
        )
        code = status.HTTP_201_CREATED if result.created else status.HTTP_400_BAD_REQUEST
        answer = serializers.WorkflowBulkResultSerializer(result, context={"selection": selection})
        return Response(answer.data, status=code)

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.request import Request
from rest_framework.response import Response

from inventory.api.selection import selection_from_body
from rackpilot.core import access
from rackpilot.core.actors import Actor
from rackpilot.core.api.viewsets import ServiceModelViewSet
from rackpilot.core.secrets import can_view_secrets
from workflows import filtersets, selectors
from workflows.api import serializers
from workflows.preview import preview_document, render_failure, template_lint, template_preview
from workflows.rendering import TemplateRenderError
from workflows.services import engine
from workflows.services import templates as template_services


class TemplateViewSet(ServiceModelViewSet):
    """Templates, plus what an editor needs before saving one.

    ``lint`` is open to whoever reads templates: on the sample machine it shows nothing but
    what was sent. Rendering on a real machine (``render``, and ``lint`` given a machine) puts
    that machine's data into the answer, environment secrets included for those who may see
    them: it needs ``workflows.run_workflow``, the right to start that very workflow, so
    viewers get 403 while operators and admins may preview.
    """

    queryset = selectors.template_list()
    serializer_class = serializers.TemplateSerializer
    filterset_class = filtersets.TemplateFilterSet
    ordering_fields = ["name", "created_at", "updated_at"]
    create_service = staticmethod(template_services.template_create)
    update_service = staticmethod(template_services.template_update)
    delete_service = staticmethod(template_services.template_delete)
    instance_kwarg = "template"
    action_permissions = {
        "lint": ("workflows.view_template",),
        "render_stored": ("workflows.view_template", access.RUN_WORKFLOW),
        "render_body": ("workflows.view_template", access.RUN_WORKFLOW),
    }

    @extend_schema(
        request=serializers.TemplateLintSerializer,
        responses={200: serializers.TemplateLintResultSerializer},
        description="Check a template body as it is written: the syntax errors saving refuses, "
        "then what rendering finds (YAML, unknown keys, invalid values) and the defaults the "
        "workflow would take, each with its line and column in the body.",
    )
    @action(detail=False, methods=["post"])
    def lint(self, request: Request) -> Response:
        body = serializers.TemplateLintSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        machine = body.validated_data.get("machine")
        if machine is not None and not request.user.has_perm(access.RUN_WORKFLOW):
            raise PermissionDenied("Checking a template on a machine needs workflows.run_workflow.")
        result = template_lint(
            body=body.validated_data["body"],
            name=body.validated_data["name"],
            machine=machine,
            hardware_map=body.validated_data.get("hardware_map"),
        )
        return Response(result.as_json())

    @extend_schema(
        request=serializers.TemplateRenderSerializer,
        responses={
            200: serializers.TemplatePreviewSerializer,
            400: OpenApiResponse(
                description="Bad input by field, or the template does not render for the "
                "machine: detail names the first problem, errors has each with its line."
            ),
        },
        description="The workflow this template (or the unsaved body given) renders for a "
        "machine, as starting it would; nothing is created.",
        operation_id="templates_render",
    )
    @action(detail=True, methods=["post"], url_path="render", url_name="render")
    def render_stored(self, request: Request, pk: str | None = None) -> Response:
        template = self.get_object()
        body = serializers.TemplateRenderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._preview(body.validated_data.get("body", template.body), body.validated_data)

    @extend_schema(
        request=serializers.TemplateBodyRenderSerializer,
        responses={200: serializers.TemplatePreviewSerializer, 400: OpenApiResponse()},
        description="The workflow an unsaved template body renders for a machine.",
        operation_id="templates_render_body",
    )
    @action(detail=False, methods=["post"], url_path="render", url_name="render-body")
    def render_body(self, request: Request) -> Response:
        body = serializers.TemplateBodyRenderSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return self._preview(body.validated_data["body"], body.validated_data)

    def _preview(self, text: str, values: dict[str, Any]) -> Response:
        machine = values["machine"]
        try:
            preview = template_preview(
                body=text, machine=machine, hardware_map=values.get("hardware_map")
            )
        except TemplateRenderError as exc:
            return Response(render_failure(exc, machine), status=status.HTTP_400_BAD_REQUEST)
        reveal = can_view_secrets(self.request.user)
        return Response(preview_document(preview, reveal_secrets=reveal))


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

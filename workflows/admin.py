"""Admin for templates (edited through their services), workflows and agent tokens.

Workflows are never edited field by field: the admin shows them and offers the operator
commands (cancel, retry) as actions, which go through the engine's services.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from rackpilot.core import access
from rackpilot.core.actors import Actor
from rackpilot.core.admin_secrets import SecretFieldsAdminMixin
from rackpilot.core.admin_services import ServiceModelAdmin
from rackpilot.core.api.errors import ConflictError
from rackpilot.core.statemachine import TransitionError
from workflows.agent_protocol.tokens import agent_token_revoke
from workflows.models import Action, AgentToken, Task, Template, Workflow
from workflows.services import engine
from workflows.services import templates as template_services


@admin.register(Template)
class TemplateAdmin(ServiceModelAdmin):
    create_service = template_services.template_create
    update_service = template_services.template_update
    delete_service = template_services.template_delete
    instance_kwarg = "template"
    service_fields = template_services.TEMPLATE_FIELDS

    list_display = ["name", "description", "updated_at"]
    search_fields = ["name", "description", "body"]
    readonly_fields = ["created_at", "updated_at"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class TaskInline(ReadOnlyInline):
    model = Task
    fields = ["order", "name", "worker"]


def _run_each(
    request: HttpRequest,
    queryset: QuerySet[Workflow],
    command: Callable[..., Any],
    done: str,
    modeladmin: admin.ModelAdmin,
) -> None:
    actor = Actor.for_user(request.user)
    succeeded = 0
    for workflow in queryset:
        try:
            command(workflow=workflow, actor=actor)
            succeeded += 1
        except (TransitionError, ConflictError, ValidationError) as exc:
            text = "; ".join(exc.messages) if isinstance(exc, ValidationError) else str(exc)
            modeladmin.message_user(request, f"#{workflow.pk}: {text}", messages.WARNING)
    modeladmin.message_user(request, f"{succeeded} workflow(s) {done}.", messages.SUCCESS)


@admin.register(Workflow)
class WorkflowAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["id", "name", "machine", "template", "state", "created_at", "finished_at"]
    list_filter = ["state", "template"]
    search_fields = ["machine__hostname", "template__name"]
    list_select_related = ["machine", "template"]
    date_hierarchy = "created_at"
    inlines = [TaskInline]
    actions = ["cancel", "retry"]
    secret_fields = ("rendered", "spec")

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        hidden = self._hidden(request)
        return [f.name for f in Workflow._meta.fields if f.name not in hidden]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_run_workflow_permission(self, request: HttpRequest) -> bool:
        return bool(request.user.has_perm(access.RUN_WORKFLOW))

    @admin.action(description="Cancel selected workflows", permissions=["run_workflow"])
    def cancel(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        _run_each(request, queryset, engine.workflow_cancel, "cancelled", self)

    @admin.action(
        description="Retry selected workflows from their failed action",
        permissions=["run_workflow"],
    )
    def retry(self, request: HttpRequest, queryset: QuerySet[Workflow]) -> None:
        _run_each(request, queryset, engine.workflow_retry, "retried", self)


@admin.register(Action)
class ActionAdmin(SecretFieldsAdminMixin, admin.ModelAdmin):
    list_display = ["id", "name", "task", "state", "attempt", "exit_code", "started_at"]
    list_filter = ["state"]
    search_fields = ["name", "image", "task__workflow__machine__hostname"]
    list_select_related = ["task"]

    secret_fields = ("environment",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        hidden = self._hidden(request)
        return [f.name for f in Action._meta.fields if f.name not in hidden]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AgentToken)
class AgentTokenAdmin(admin.ModelAdmin):
    list_display = ["prefix", "purpose", "machine", "created_at", "expires_at", "revoked_at"]
    list_filter = ["purpose"]
    search_fields = ["prefix", "machine__hostname", "description"]
    list_select_related = ["machine"]
    # The hash is not secret, but it is no use to anyone: leave it out of every page.
    exclude = ["token_hash"]
    actions = ["revoke"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        return [f.name for f in AgentToken._meta.fields if f.name != "token_hash"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.action(description="Revoke selected tokens", permissions=["change"])
    def revoke(self, request: HttpRequest, queryset: QuerySet[AgentToken]) -> None:
        for token in queryset:
            agent_token_revoke(token=token, actor=Actor.for_user(request.user))
        self.message_user(request, f"{queryset.count()} token(s) revoked.", messages.SUCCESS)

from __future__ import annotations

from typing import Any

from rest_framework import serializers

from inventory.api.selection import (
    MachineSelectionResultSerializer,
    MachineSelectionSerializer,
    selection_answer,
)
from inventory.models import Machine
from inventory.selectors import machine_list
from rackpilot.core.api.fields import NameRelatedField
from rackpilot.core.secrets import (
    can_view_secrets,
    masked_environment,
    masked_spec,
    masked_text,
)
from workflows.models import Action, Task, Template, Workflow


def _user(serializer: serializers.BaseSerializer) -> Any:
    """The requesting user; None without a request (nothing is shown unmasked then)."""
    request = serializer.context.get("request")
    return getattr(request, "user", None)


def _masked_environment(serializer: serializers.BaseSerializer, data: Any) -> Any:
    if not can_view_secrets(_user(serializer)):
        data["environment"] = masked_environment(data.get("environment"))
    return data


class TemplateSerializer(serializers.ModelSerializer):
    # Kept verbatim: trailing newlines and indentation are part of the template.
    body = serializers.CharField(trim_whitespace=False)

    class Meta:
        model = Template
        fields = ["id", "name", "body", "description", "created_at", "updated_at"]


class TemplateLintSerializer(serializers.Serializer):
    body = serializers.CharField(trim_whitespace=False, allow_blank=True)
    name = serializers.CharField(
        required=False, allow_blank=True, default="", help_text="The template's name, if any."
    )
    machine = serializers.PrimaryKeyRelatedField(
        queryset=machine_list(),
        required=False,
        allow_null=True,
        help_text="Render on this machine (needs workflows.run_workflow); without it, on a "
        "sample machine, where a key or disk the sample lacks is only a warning.",
    )
    hardware_map = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="With machine: defaults to {device_1: the machine's boot MAC}.",
    )


class DiagnosticSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    column = serializers.IntegerField()
    severity = serializers.ChoiceField(choices=["error", "warning"])
    message = serializers.CharField()
    kind = serializers.CharField(
        help_text="syntax: saving refuses it; render: the template fails on the machine's "
        "data; workflow: the rendered workflow is invalid or took a default."
    )


class TemplateLintResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="No errors at all.")
    saveable = serializers.BooleanField(help_text="Saving would accept the body.")
    rendered_for = serializers.CharField(help_text='"sample" or the machine\'s hostname.')
    diagnostics = DiagnosticSerializer(many=True)


class TemplateRenderSerializer(serializers.Serializer):
    # With what the Tinkerbell data reads (interfaces, disks, BMC) fetched alongside.
    machine = serializers.PrimaryKeyRelatedField(queryset=machine_list())
    body = serializers.CharField(
        trim_whitespace=False,
        required=False,
        help_text="An unsaved body to render instead of the stored one.",
    )
    hardware_map = serializers.DictField(
        child=serializers.CharField(allow_blank=True),
        required=False,
        help_text="Defaults to {device_1: the machine's boot MAC}.",
    )


class TemplateBodyRenderSerializer(TemplateRenderSerializer):
    body = serializers.CharField(trim_whitespace=False)


class TemplatePreviewSerializer(serializers.Serializer):
    machine = serializers.DictField()
    hardware_map = serializers.DictField(child=serializers.CharField())
    workflow = serializers.DictField(
        help_text="Tasks and actions as the agent receives them; environment values masked "
        "without inventory.view_secrets."
    )
    yaml = serializers.CharField(help_text="The same workflow as YAML.")
    rendered = serializers.CharField(
        help_text="The rendered template text; masked without inventory.view_secrets."
    )
    secrets_masked = serializers.BooleanField()
    warnings = DiagnosticSerializer(many=True)
    refusals = serializers.ListField(
        child=serializers.CharField(),
        help_text="Why starting this workflow on the machine now would be refused.",
    )


class ActionSerializer(serializers.ModelSerializer):
    duration = serializers.FloatField(read_only=True, allow_null=True)

    class Meta:
        model = Action
        fields = [
            "id",
            "name",
            "image",
            "command",
            "timeout",
            "environment",
            "volumes",
            "pid",
            "on_failure",
            "on_timeout",
            "order",
            "state",
            "attempt",
            "started_at",
            "finished_at",
            "duration",
            "agent_started_at",
            "agent_finished_at",
            "exit_code",
            "message",
            "reaction",
            "log_seq",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Action) -> dict[str, Any]:
        return _masked_environment(self, super().to_representation(instance))


class TaskSerializer(serializers.ModelSerializer):
    actions = ActionSerializer(many=True, read_only=True)

    class Meta:
        model = Task
        fields = ["id", "name", "worker", "volumes", "environment", "order", "actions"]
        read_only_fields = fields

    def to_representation(self, instance: Task) -> dict[str, Any]:
        return _masked_environment(self, super().to_representation(instance))


class WorkflowSerializer(serializers.ModelSerializer):
    template = NameRelatedField(slug_field="name", queryset=Template.objects.all())
    machine = NameRelatedField(slug_field="hostname", queryset=Machine.objects.all())
    name = serializers.CharField(read_only=True)
    duration = serializers.FloatField(read_only=True, allow_null=True)
    hardware_map = serializers.DictField(
        child=serializers.CharField(),
        required=False,
        help_text="Defaults to {device_1: the machine's boot MAC}.",
    )

    class Meta:
        model = Workflow
        fields = [
            "id",
            "name",
            "template",
            "machine",
            "hardware_map",
            "state",
            "failure_reason",
            "global_timeout",
            "disable_pxe_on_success",
            "boot_into_pxe",
            "rerun_of",
            "imported_name",
            "attempt",
            "created_at",
            "started_at",
            "finished_at",
            "duration",
        ]
        # The one-unfinished-workflow rule is the service's to enforce (409 machine_busy).
        validators: list[object] = []
        read_only_fields = [
            "state",
            "failure_reason",
            "global_timeout",
            "rerun_of",
            "imported_name",
            "attempt",
            "created_at",
            "started_at",
            "finished_at",
        ]


class WorkflowDetailSerializer(WorkflowSerializer):
    tasks = TaskSerializer(many=True, read_only=True)

    class Meta(WorkflowSerializer.Meta):
        fields = [*WorkflowSerializer.Meta.fields, "spec", "rendered", "tasks"]
        read_only_fields = [*WorkflowSerializer.Meta.read_only_fields, "spec", "rendered"]

    def to_representation(self, instance: Workflow) -> dict[str, Any]:
        data = super().to_representation(instance)
        if not can_view_secrets(_user(self)):
            data["spec"] = masked_spec(data.get("spec"))
            data["rendered"] = masked_text(data.get("rendered") or "")
        return data


class WorkflowCancelSerializer(serializers.Serializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class WorkflowBulkSerializer(MachineSelectionSerializer):
    template = NameRelatedField(slug_field="name", queryset=Template.objects.all())
    skip_refused = serializers.BooleanField(
        default=False, help_text="Start the valid ones even if some machines are refused."
    )
    disable_pxe_on_success = serializers.BooleanField(default=False)
    boot_into_pxe = serializers.BooleanField(
        default=False, help_text="Power-cycle each machine into PXE through its BMC."
    )


class BulkRefusalSerializer(serializers.Serializer):
    machine = serializers.CharField()
    reason = serializers.CharField()


class WorkflowBulkResultSerializer(serializers.Serializer):
    selected = MachineSelectionResultSerializer()
    created = WorkflowSerializer(many=True)
    refused = BulkRefusalSerializer(many=True)

    def to_representation(self, instance: Any) -> dict[str, Any]:
        return {
            "selected": selection_answer(self.context["selection"]),
            "created": WorkflowSerializer(instance.created, many=True).data,
            "refused": [{"machine": m.hostname, "reason": r} for m, r in instance.refused],
        }

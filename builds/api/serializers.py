from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from builds import selectors
from builds.models import Build, BuildArtifact, BuildRecipe
from builds.states import Arch
from rackpilot.core.api.fields import NameRelatedField


class RecipeSerializer(serializers.ModelSerializer):
    # Kept verbatim: indentation and trailing newlines are part of the YAML.
    config = serializers.CharField(trim_whitespace=False)
    arches = serializers.ListField(child=serializers.ChoiceField(Arch.choices), min_length=1)
    warnings = serializers.SerializerMethodField()

    class Meta:
        model = BuildRecipe
        fields = [
            "id",
            "name",
            "config",
            "arches",
            "description",
            "warnings",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(serializers.ListField(child=serializers.CharField()))
    def get_warnings(self, recipe: BuildRecipe) -> list[str]:
        return selectors.recipe_warnings(recipe.config)


class ArtifactSerializer(serializers.ModelSerializer):
    url = serializers.SerializerMethodField()

    class Meta:
        model = BuildArtifact
        fields = ["name", "size", "sha256", "url"]
        read_only_fields = fields

    def get_url(self, artifact: BuildArtifact) -> str:
        return f"/api/v1/builds/{artifact.build_id}/artifacts/{artifact.name}"


class BuildSerializer(serializers.ModelSerializer):
    # None for an imported HookOS, which has no recipe.
    recipe = serializers.CharField(source="recipe.name", read_only=True, default=None)
    recipe_id = serializers.IntegerField(read_only=True, allow_null=True)
    duration = serializers.FloatField(read_only=True, allow_null=True)
    artifacts = ArtifactSerializer(many=True, read_only=True)

    class Meta:
        model = Build
        fields = [
            "id",
            "recipe",
            "recipe_id",
            "kind",
            "source",
            "arch",
            "state",
            "progress",
            "current_step",
            "error",
            "steps",
            "cache_hits",
            "downloaded_bytes",
            "log_seq",
            "cancel_requested",
            "is_default",
            "heartbeat_at",
            "created_at",
            "started_at",
            "finished_at",
            "duration",
            "artifacts",
        ]
        read_only_fields = fields


class BuildDetailSerializer(BuildSerializer):
    class Meta(BuildSerializer.Meta):
        fields = [*BuildSerializer.Meta.fields, "config", "celery_task_id"]
        read_only_fields = fields


class BuildQueueSerializer(serializers.Serializer):
    recipe = NameRelatedField(slug_field="name", queryset=BuildRecipe.objects.all())
    arch = serializers.ChoiceField(
        Arch.choices, required=False, help_text="Default: every architecture of the recipe."
    )


class BuildLogLineSerializer(serializers.Serializer):
    seq = serializers.IntegerField()
    timestamp = serializers.DateTimeField()
    text = serializers.CharField()

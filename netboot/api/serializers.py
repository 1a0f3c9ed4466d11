from __future__ import annotations

from rest_framework import serializers

from netboot.models import DiscoveryRule
from rackpilot.core.api.fields import NameRelatedField
from workflows.models import Template


class DiscoveryRuleSerializer(serializers.ModelSerializer):
    template = NameRelatedField(slug_field="name", queryset=Template.objects.all())

    class Meta:
        model = DiscoveryRule
        fields = [
            "id",
            "name",
            "description",
            "priority",
            "enabled",
            "conditions",
            "template",
            "disable_pxe_on_success",
            "created_at",
            "updated_at",
        ]


class DiscoveryRuleMatchSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    hostname = serializers.CharField()


class DiscoveryRuleStartedSerializer(serializers.Serializer):
    machine = serializers.CharField()
    workflow = serializers.IntegerField()


class DiscoveryRuleRunSerializer(serializers.Serializer):
    started = DiscoveryRuleStartedSerializer(many=True)
    failed = serializers.ListField(child=serializers.CharField())

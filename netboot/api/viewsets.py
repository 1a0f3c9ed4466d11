from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from netboot import discovery, filtersets, selectors
from netboot.api import serializers
from netboot.rules import all_hold
from rackpilot.core import access
from rackpilot.core.api.viewsets import ServiceModelViewSet


class DiscoveryRuleViewSet(ServiceModelViewSet):
    queryset = selectors.discovery_rule_list()
    serializer_class = serializers.DiscoveryRuleSerializer
    filterset_class = filtersets.DiscoveryRuleFilterSet
    ordering_fields = ["priority", "name", "created_at"]
    create_service = staticmethod(discovery.discovery_rule_create)
    update_service = staticmethod(discovery.discovery_rule_update)
    delete_service = staticmethod(discovery.discovery_rule_delete)
    instance_kwarg = "rule"
    action_permissions = {
        "matches": ("netboot.view_discoveryrule",),
        "apply": (access.ACCEPT_MACHINE, access.RUN_WORKFLOW),
    }

    @extend_schema(
        responses={200: serializers.DiscoveryRuleMatchSerializer(many=True)},
        description="The discovered (not yet accepted) machines this rule's conditions match "
        "now: a dry run before enabling it.",
    )
    @action(detail=True, methods=["get"])
    def matches(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        conditions = rule.parsed_conditions()
        found = [
            {"id": machine.pk, "hostname": machine.hostname}
            for machine in selectors.discovered_machines()
            if all_hold(conditions, discovery.rule_attributes(machine))
        ]
        return Response(found)

    @extend_schema(
        request=None,
        responses={200: serializers.DiscoveryRuleRunSerializer},
        description="Run the rule over the discovered machines waiting now: those it matches "
        "are accepted and get a workflow from its template (each machine on its own).",
    )
    @action(detail=True, methods=["post"])
    def apply(self, request: Request, pk: str | None = None) -> Response:
        rule = self.get_object()
        run = discovery.discovery_rule_apply_now(rule=rule, actor=self.actor())
        return Response(
            {
                "started": [{"machine": w.machine.hostname, "workflow": w.pk} for w in run.started],
                "failed": [m.hostname for m in run.failed],
            }
        )

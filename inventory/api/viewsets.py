from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status, viewsets
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from inventory import filtersets, selectors, services
from inventory.api import serializers
from inventory.api.selection import (
    MachineSelectionResultSerializer,
    MachineSelectionSerializer,
    selection_answer,
    selection_from_body,
)
from inventory.importers.csv_import import CSVImportError, machines_import_csv
from inventory.models import PowerJob, Tag
from inventory.power import services as power_services
from rackpilot.core import access
from rackpilot.core.api.pagination import NarrowSortPagination
from rackpilot.core.api.viewsets import ServiceModelViewSet


class TagViewSet(ServiceModelViewSet):
    queryset = Tag.objects.all()
    serializer_class = serializers.TagSerializer
    filterset_class = filtersets.TagFilterSet
    ordering_fields = ["name", "slug"]
    create_service = staticmethod(services.tag_create)
    update_service = staticmethod(services.tag_update)
    delete_service = staticmethod(services.tag_delete)
    instance_kwarg = "tag"


class SiteViewSet(ServiceModelViewSet):
    queryset = selectors.site_list()
    serializer_class = serializers.SiteSerializer
    filterset_class = filtersets.SiteFilterSet
    ordering_fields = ["name", "slug", "created_at"]
    create_service = staticmethod(services.site_create)
    update_service = staticmethod(services.site_update)
    delete_service = staticmethod(services.site_delete)
    instance_kwarg = "site"


class RackViewSet(ServiceModelViewSet):
    queryset = selectors.rack_list()
    serializer_class = serializers.RackSerializer
    filterset_class = filtersets.RackFilterSet
    ordering_fields = ["name", "site__name", "u_height", "created_at"]
    create_service = staticmethod(services.rack_create)
    update_service = staticmethod(services.rack_update)
    delete_service = staticmethod(services.rack_delete)
    instance_kwarg = "rack"


class MachineViewSet(ServiceModelViewSet):
    queryset = selectors.machine_list()
    serializer_class = serializers.MachineSerializer
    filterset_class = filtersets.MachineFilterSet
    pagination_class = NarrowSortPagination  # 10,000 machines, wide rows
    action_permissions = {
        "transition": ("inventory.change_machine",),
        "power": (access.POWER_MACHINE,),
        "bulk_power": (access.POWER_MACHINE,),
        "select": ("inventory.view_machine",),
        "accept": (access.ACCEPT_MACHINE,),
        "import_csv": (access.IMPORT_MACHINES,),
    }
    ordering_fields = ["hostname", "state", "rack__name", "position", "last_seen", "created_at"]
    create_service = staticmethod(services.machine_create)
    update_service = staticmethod(services.machine_update)
    delete_service = staticmethod(services.machine_delete)
    instance_kwarg = "machine"

    def update_values(self, instance: Any, values: dict[str, Any]) -> dict[str, Any]:
        # A full representation sent back unchanged carries the current state: not an error.
        if values.get("state") == instance.state:
            values.pop("state")
        return values

    @extend_schema(
        request=serializers.MachineTransitionSerializer,
        responses={200: serializers.MachineSerializer},
        description="Move the machine along its lifecycle; 409 if the table does not allow it.",
    )
    @action(detail=True, methods=["post"])
    def transition(self, request: Request, pk: str | None = None) -> Response:
        body = serializers.MachineTransitionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        machine = services.machine_transition(
            machine=self.get_object(),
            actor=self.actor(),
            target=body.validated_data["state"],
            reason=body.validated_data["reason"],
        )
        return Response(self.output(machine))

    @extend_schema(
        request=serializers.PowerRequestSerializer,
        responses={202: serializers.PowerJobSerializer},
        description="Queue a power job for the machine's BMC (optionally setting the boot "
        "device first); follow it at /api/v1/power-jobs/<id>/. 409 while another one runs.",
    )
    @action(detail=True, methods=["post"])
    def power(self, request: Request, pk: str | None = None) -> Response:
        body = serializers.PowerRequestSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        job = power_services.power_job_request(
            machine=self.get_object(), actor=self.actor(), **body.validated_data
        )
        return Response(serializers.PowerJobSerializer(job).data, status=status.HTTP_202_ACCEPTED)

    @extend_schema(
        operation_id="machines_power_bulk",
        request=serializers.PowerBulkSerializer,
        responses={202: serializers.PowerBulkResultSerializer},
        description="One power job per machine the filter selects; machines without a BMC or "
        "with a job running are listed as refused and do not hold back the others.",
    )
    @action(detail=False, methods=["post"], url_path="power")
    def bulk_power(self, request: Request) -> Response:
        body = serializers.PowerBulkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        values = dict(body.validated_data)
        selection = selection_from_body(values)
        for key in MachineSelectionSerializer().fields:
            values.pop(key)
        if not selection.count:
            raise ValidationError({"filter": "No machine matches the filter."})
        result = power_services.power_jobs_request_bulk(
            machines=selection.machines(), actor=self.actor(), **values
        )
        data = {
            "selected": selection_answer(selection),
            "queued": serializers.PowerJobSerializer(result.queued, many=True).data,
            "refused": [{"machine": m.hostname, "reason": r} for m, r in result.refused],
        }
        code = status.HTTP_202_ACCEPTED if result.queued else status.HTTP_400_BAD_REQUEST
        return Response(data, status=code)

    @extend_schema(
        request=MachineSelectionSerializer,
        responses={200: MachineSelectionResultSerializer},
        description="Preview of a bulk command: how many machines, and which, the filter "
        "selects now, with the selection digest to send back with the command.",
    )
    @action(detail=False, methods=["post"])
    def select(self, request: Request) -> Response:
        body = MachineSelectionSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        return Response(selection_answer(selection_from_body(body.validated_data)))

    @extend_schema(
        request=serializers.MachineAcceptSerializer,
        responses={200: serializers.MachineSerializer},
        description="Take a discovered machine into the fleet (name, rack place, tags); it "
        "becomes ready. 409 if the machine is not discovered.",
    )
    @action(detail=True, methods=["post"])
    def accept(self, request: Request, pk: str | None = None) -> Response:
        machine = self.get_object()
        body = serializers.MachineAcceptSerializer(machine, data=request.data, partial=True)
        body.is_valid(raise_exception=True)
        machine = services.machine_accept(
            machine=machine, actor=self.actor(), **body.validated_data
        )
        return Response(self.output(machine))

    @extend_schema(
        request=serializers.MachineCSVImportSerializer,
        responses={
            201: serializers.MachineCSVImportResultSerializer,
            400: OpenApiResponse(description="Per-row errors; nothing was imported."),
        },
        description="Create machines (with boot interface and BMC) from CSV, all or nothing.",
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="import-csv",
        parser_classes=[MultiPartParser, FormParser, JSONParser],
    )
    def import_csv(self, request: Request) -> Response:
        body = serializers.MachineCSVImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            created = machines_import_csv(text=body.csv_text(), actor=self.actor())
        except CSVImportError as exc:
            return Response(
                {"detail": str(exc), "errors": exc.errors}, status=status.HTTP_400_BAD_REQUEST
            )
        return Response(
            {"created": len(created), "machines": [m.hostname for m in created]},
            status=status.HTTP_201_CREATED,
        )


class NetworkInterfaceViewSet(ServiceModelViewSet):
    queryset = selectors.interface_list()
    serializer_class = serializers.NetworkInterfaceSerializer
    filterset_class = filtersets.NetworkInterfaceFilterSet
    ordering_fields = ["mac", "ip", "name", "machine__hostname"]
    create_service = staticmethod(services.interface_create)
    update_service = staticmethod(services.interface_update)
    delete_service = staticmethod(services.interface_delete)
    instance_kwarg = "interface"


class DiskViewSet(ServiceModelViewSet):
    queryset = selectors.disk_list()
    serializer_class = serializers.DiskSerializer
    filterset_class = filtersets.DiskFilterSet
    ordering_fields = ["device", "size_bytes", "machine__hostname"]
    create_service = staticmethod(services.disk_create)
    update_service = staticmethod(services.disk_update)
    delete_service = staticmethod(services.disk_delete)
    instance_kwarg = "disk"


class BMCViewSet(ServiceModelViewSet):
    queryset = selectors.bmc_list()
    serializer_class = serializers.BMCSerializer
    filterset_class = filtersets.BMCFilterSet
    ordering_fields = ["address", "protocol", "power_state", "machine__hostname"]
    create_service = staticmethod(services.bmc_create)
    update_service = staticmethod(services.bmc_update)
    delete_service = staticmethod(services.bmc_delete)
    instance_kwarg = "bmc"


class PowerJobViewSet(viewsets.ReadOnlyModelViewSet):
    queryset = PowerJob.objects.select_related("machine")
    serializer_class = serializers.PowerJobSerializer
    filterset_class = filtersets.PowerJobFilterSet
    ordering_fields = ["created_at", "finished_at", "machine__hostname", "state"]

"""REST: importing a released HookOS (``POST /api/v1/builds/import-hookos/``)."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.parsers import JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from builds import selectors
from builds.api.serializers import BuildDetailSerializer
from builds.states import Arch
from rackpilot.core import access
from rackpilot.core.actors import Actor
from tinkerbell.hookos import hookos_import


class HookosImportSerializer(serializers.Serializer):
    arch = serializers.ChoiceField(choices=Arch.choices)
    url = serializers.URLField(required=False, allow_blank=True, default="")
    sha256 = serializers.CharField(required=False, allow_blank=True, default="", max_length=64)
    archive = serializers.FileField(required=False, default=None)
    kernel = serializers.FileField(required=False, default=None)
    initramfs = serializers.FileField(required=False, default=None)
    kernel_sha256 = serializers.CharField(required=False, allow_blank=True, default="")
    initramfs_sha256 = serializers.CharField(required=False, allow_blank=True, default="")
    default = serializers.BooleanField(required=False, default=False)


class HookosImportView(APIView):
    """A released HookOS (``hook_<arch>.tar.gz`` by URL or upload, or a kernel and an
    initramfs) becomes a successful build; checked by sha256."""

    required_permissions = (access.RUN_BUILD,)
    parser_classes = [MultiPartParser, JSONParser]

    @extend_schema(request=HookosImportSerializer, responses={201: BuildDetailSerializer})
    def post(self, request: Request) -> Response:
        body = HookosImportSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        data: dict[str, Any] = dict(body.validated_data)
        build = hookos_import(
            actor=Actor.for_user(request.user),
            arch=data["arch"],
            url=data["url"],
            sha256=data["sha256"],
            archive=data["archive"],
            kernel=data["kernel"],
            initramfs=data["initramfs"],
            kernel_sha256=data["kernel_sha256"],
            initramfs_sha256=data["initramfs_sha256"],
            make_default=data["default"],
        )
        detail = selectors.build_detail().get(pk=build.pk)
        return Response(BuildDetailSerializer(detail).data, status=status.HTTP_201_CREATED)

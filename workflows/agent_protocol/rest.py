"""REST transport of the agent protocol: the same messages as ``/ws/agent/``, one per request."""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from workflows.agent_protocol.dispatch import ProtocolError, dispatch
from workflows.agent_protocol.tokens import AgentAuthenticationError, agent_token_authenticate
from workflows.models import AgentToken


class AgentPrincipal:
    """``request.user`` for agent requests: not a Django user, never staff."""

    is_authenticated = True
    is_staff = False
    is_superuser = False

    def __init__(self, token: AgentToken):
        self.token = token

    def get_username(self) -> str:
        return f"agent:{self.token.prefix}"


class AgentTokenAuthentication(BaseAuthentication):
    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[AgentPrincipal, AgentToken] | None:
        header = get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword:
            return None
        if len(header) != 2:
            raise AuthenticationFailed("Authorization: Bearer <agent token>")
        try:
            token = agent_token_authenticate(header[1].decode("latin-1"))
        except AgentAuthenticationError as exc:
            raise AuthenticationFailed(str(exc)) from exc
        return AgentPrincipal(token), token

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="rackpilot-agent"'


class AgentTokenScheme(OpenApiAuthenticationExtension):
    """The agent endpoints' bearer token, named in the API schema."""

    target_class = AgentTokenAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An agent or discovery token."}


class IsAgent(BasePermission):
    def has_permission(self, request: Request, view: Any) -> bool:
        return isinstance(request.auth, AgentToken)


class AgentView(APIView):
    authentication_classes = [AgentTokenAuthentication]
    permission_classes = [IsAgent]
    message_type: str = ""

    def run(self, request: Request, payload: dict[str, Any], ok: int = 200) -> Response:
        assert isinstance(request.auth, AgentToken)
        try:
            reply = dispatch(request.auth, self.message_type, payload)
        except ProtocolError as exc:
            return Response({"code": exc.code, "detail": exc.detail}, status=exc.status)
        return Response(reply, status=ok)

    @staticmethod
    def body(request: Request) -> dict[str, Any]:
        return dict(request.data) if isinstance(request.data, dict) else {}


_any = inline_serializer("AgentReply", {"type": serializers.CharField()})


class HelloView(AgentView):
    message_type = "hello"

    @extend_schema(
        request=inline_serializer(
            "AgentHello",
            {
                "worker_id": serializers.CharField(),
                "hardware": serializers.DictField(required=False),
            },
        ),
        responses={200: _any},
        description="Identify the agent (worker id = boot MAC) and report hardware attributes.",
    )
    def post(self, request: Request) -> Response:
        return self.run(request, self.body(request))


class NextActionView(AgentView):
    message_type = "next_action"

    @extend_schema(
        responses={200: _any, 204: OpenApiResponse(description="No work for this machine.")},
        description="The action this machine's agent should run now.",
    )
    def get(self, request: Request) -> Response:
        response = self.run(request, {})
        if response.status_code == 200 and response.data.get("type") == "no_work":
            return Response(status=status.HTTP_204_NO_CONTENT)
        return response


class ActionStateView(AgentView):
    message_type = "action_state"

    @extend_schema(
        request=inline_serializer(
            "AgentActionState",
            {
                "attempt": serializers.IntegerField(),
                "state": serializers.ChoiceField(["running", "success", "failed", "timeout"]),
                "exit_code": serializers.IntegerField(required=False, allow_null=True),
                "message": serializers.CharField(required=False),
                "at": serializers.DateTimeField(required=False),
                "reaction": serializers.DictField(required=False),
            },
        ),
        responses={200: _any},
        description="Report an action's state. Repeats are idempotent; stale reports get 409.",
    )
    def post(self, request: Request, action_id: int) -> Response:
        return self.run(request, {**self.body(request), "action": action_id})


class LogsView(AgentView):
    message_type = "logs"

    @extend_schema(
        request=inline_serializer(
            "AgentLogBatch",
            {
                "attempt": serializers.IntegerField(),
                "first_seq": serializers.IntegerField(),
                "lines": serializers.ListField(child=serializers.DictField()),
            },
        ),
        responses={200: _any},
        description="Upload a batch of log lines; the answer acknowledges the highest seq stored.",
    )
    def post(self, request: Request, action_id: int) -> Response:
        return self.run(request, {**self.body(request), "action": action_id})


class HardwareView(AgentView):
    message_type = "hardware"

    @extend_schema(
        request=inline_serializer("AgentHardware", {"hardware": serializers.DictField()}),
        responses={200: _any},
    )
    def post(self, request: Request) -> Response:
        return self.run(request, self.body(request))


class RenewTokenView(AgentView):
    message_type = "renew_token"

    @extend_schema(request=None, responses={201: _any}, description="A fresh token, same scope.")
    def post(self, request: Request) -> Response:
        return self.run(request, {}, ok=status.HTTP_201_CREATED)

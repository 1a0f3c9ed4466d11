"""WebSocket routes. Browser sockets are cookie-authenticated, so they check the Origin;
agent sockets authenticate with a bearer token and send no Origin at all."""

from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from builds.consumers import BuildLogConsumer
from rackpilot.core.consumers import EventStreamConsumer
from workflows.agent_protocol.consumer import AgentConsumer
from workflows.consumers import WorkflowLogConsumer

agent_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
]

BROWSER_ROUTES: list[tuple[str, Any]] = [
    ("ws/events/", EventStreamConsumer.as_asgi()),
    ("ws/workflows/<int:workflow_id>/", WorkflowLogConsumer.as_asgi()),
    ("ws/builds/<int:build_id>/", BuildLogConsumer.as_asgi()),
]

# The bare consumers (tests put a user in the scope themselves).
browser_urlpatterns = [path(route, app) for route, app in BROWSER_ROUTES]


def _as_browser(app: Any) -> Any:
    return AllowedHostsOriginValidator(AuthMiddlewareStack(app))


websocket_application = URLRouter(
    [*agent_urlpatterns, *(path(route, _as_browser(app)) for route, app in BROWSER_ROUTES)]
)

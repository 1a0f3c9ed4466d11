"""WebSocket routes. Browser sockets are cookie-authenticated, so they check the Origin;
agent sockets authenticate with a bearer token and send no Origin at all."""

from channels.auth import AuthMiddlewareStack
from channels.routing import URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path, re_path

from rackpilot.core.consumers import EventStreamConsumer
from workflows.consumers import AgentConsumer, WorkflowLogConsumer

agent_urlpatterns = [
    path("ws/agent/", AgentConsumer.as_asgi()),
]

browser_urlpatterns = [
    path("ws/events/", EventStreamConsumer.as_asgi()),
    path("ws/workflows/<int:workflow_id>/", WorkflowLogConsumer.as_asgi()),
]

websocket_application = URLRouter(
    [
        *agent_urlpatterns,
        re_path(
            r"^ws/",
            AllowedHostsOriginValidator(AuthMiddlewareStack(URLRouter(browser_urlpatterns))),
        ),
    ]
)

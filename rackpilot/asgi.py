import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
# Django must be set up before anything imports models (the consumers do).
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter  # noqa: E402
from django.conf import settings  # noqa: E402

from rackpilot.core.lean_http import lean_http  # noqa: E402
from rackpilot.core.process import tune_garbage_collection  # noqa: E402
from rackpilot.core.proxies import forwarded_client_asgi  # noqa: E402
from rackpilot.routing import websocket_application  # noqa: E402

application = ProtocolTypeRouter(
    {
        "http": lean_http(django_asgi_app, threads=settings.NETBOOT_SCRIPT_THREADS),
        "websocket": forwarded_client_asgi(websocket_application),
    }
)

tune_garbage_collection()  # the last thing at start: see rackpilot/core/process.py

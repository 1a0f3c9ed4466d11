"""``/ws/events/`` over the real Redis channel layer: events arrive after the commit."""

from __future__ import annotations

import pytest
from channels.db import database_sync_to_async
from channels.routing import URLRouter
from channels.testing import WebsocketCommunicator
from django.contrib.auth.models import Permission

from inventory import services
from rackpilot.core.actors import Actor
from rackpilot.routing import browser_urlpatterns
from tests.factories import MachineFactory, UserFactory

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]


def _app():
    return URLRouter(browser_urlpatterns)


def _watcher(*view: tuple[str, str]):
    """A user with the view permissions (app label, codename) the sockets ask for."""
    user = UserFactory()
    for app_label, codename in view or [("core", "view_event")]:
        user.user_permissions.add(
            Permission.objects.get(codename=codename, content_type__app_label=app_label)
        )
    return user


async def test_anonymous_subscriber_is_refused():
    communicator = WebsocketCommunicator(_app(), "/ws/events/")
    communicator.scope["user"] = None
    connected, code = await communicator.connect()
    assert not connected
    assert code == 4401


async def test_signed_in_subscriber_receives_committed_events():
    user = await database_sync_to_async(_watcher)()
    machine = await database_sync_to_async(MachineFactory)(hostname="live-01")
    communicator = WebsocketCommunicator(_app(), "/ws/events/")
    communicator.scope["user"] = user
    connected, _ = await communicator.connect()
    assert connected

    await database_sync_to_async(services.machine_update)(
        machine=machine, actor=Actor.for_user(user), description="rewired"
    )

    message = await communicator.receive_json_from(timeout=5)
    assert message["type"] == "event"
    assert message["event"]["verb"] == "machine.updated"
    assert message["event"]["object"] == "live-01"
    assert message["event"]["actor"] == user.username
    await communicator.disconnect()


async def test_rolled_back_change_publishes_nothing():
    user = await database_sync_to_async(_watcher)()
    machine = await database_sync_to_async(MachineFactory)(hostname="ghost")
    communicator = WebsocketCommunicator(_app(), "/ws/events/")
    communicator.scope["user"] = user
    await communicator.connect()

    def failing_change() -> None:
        from django.db import transaction

        with transaction.atomic():
            services.machine_update(machine=machine, actor=Actor.system(), description="x")
            raise RuntimeError("abort")

    with pytest.raises(RuntimeError):
        await database_sync_to_async(failing_change)()

    assert await communicator.receive_nothing(timeout=1)
    await communicator.disconnect()


async def test_the_full_websocket_stack_authenticates_browsers_by_session_and_origin():
    """Through the application the server runs: session cookie + allowed Origin."""
    from django.test import Client

    from rackpilot.routing import websocket_application

    user = await database_sync_to_async(_watcher)(
        ("core", "view_event"), ("workflows", "view_workflow")
    )
    client = Client()
    await database_sync_to_async(client.force_login)(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()

    for path in ("/ws/events/", "/ws/workflows/1/"):
        good = WebsocketCommunicator(
            websocket_application,
            path,
            headers=[
                (b"cookie", cookie),
                (b"origin", b"http://127.0.0.1"),
                (b"host", b"127.0.0.1"),
            ],
        )
        assert (await good.connect())[0], path
        await good.disconnect()
        foreign = WebsocketCommunicator(
            websocket_application,
            path,
            headers=[
                (b"cookie", cookie),
                (b"origin", b"http://evil.example"),
                (b"host", b"127.0.0.1"),
            ],
        )
        assert not (await foreign.connect())[0], path
        anonymous = WebsocketCommunicator(
            websocket_application,
            path,
            headers=[(b"origin", b"http://127.0.0.1"), (b"host", b"127.0.0.1")],
        )
        assert not (await anonymous.connect())[0], path

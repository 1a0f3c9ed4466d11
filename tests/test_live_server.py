"""The ASGI live server fixture: daphne in a subprocess sharing the test's database and Redis."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from inventory import services
from rackpilot.core.actors import Actor
from tests.factories import MachineFactory, UserFactory
from tests.live_server import AsgiLiveServer, asgi_live_server, signed_in_headers

__all__ = ["asgi_live_server"]  # a fixture, imported to be used here

pytestmark = pytest.mark.django_db(transaction=True)


def _events(server: AsgiLiveServer, user: Any) -> ClientConnection:
    return connect(
        server.ws_url + "/ws/events/",
        additional_headers=signed_in_headers(server, user),
        open_timeout=5,
    )


def _next_event(ws: ClientConnection, verb: str) -> dict[str, Any]:
    """The first event with ``verb`` (other events of the same test may come first)."""
    while True:
        frame = json.loads(ws.recv(timeout=5))
        if frame.get("type") == "event" and frame["event"]["verb"] == verb:
            return frame["event"]


def test_healthz_answers_with_database_and_redis(asgi_live_server: AsgiLiveServer):
    response = requests.get(asgi_live_server.url + "/healthz", timeout=5)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "redis": "ok"}}
    assert asgi_live_server.ws_url == asgi_live_server.url.replace("http://", "ws://")


def test_server_reads_what_the_test_committed(asgi_live_server: AsgiLiveServer):
    # given a machine created by the test process and a signed-in user
    MachineFactory(hostname="shared-01")
    user = UserFactory(username="watcher", role="viewer")
    headers = signed_in_headers(asgi_live_server, user)

    # when the user asks the server's API for it
    response = requests.get(asgi_live_server.url + "/api/v1/machines/", headers=headers, timeout=5)

    # then the server answered from the test database, as that user
    assert response.status_code == 200
    assert [m["hostname"] for m in response.json()["results"]] == ["shared-01"]
    anonymous = requests.get(asgi_live_server.url + "/api/v1/machines/", timeout=5)
    assert anonymous.status_code in (401, 403)


def test_websocket_receives_an_event_from_a_service_called_in_the_test(
    asgi_live_server: AsgiLiveServer,
):
    user = UserFactory(username="watcher", permissions=["core.view_event"])
    machine = MachineFactory(hostname="live-01")
    with _events(asgi_live_server, user) as ws:
        # when the test process changes the machine through its service
        services.machine_update(machine=machine, actor=Actor.for_user(user), description="x")

        # then the browser socket on the server gets the event (same Redis, same prefix)
        event = _next_event(ws, "machine.updated")
    assert event["object"] == "live-01"
    assert event["actor"] == "watcher"


def test_websocket_without_a_session_is_refused(asgi_live_server: AsgiLiveServer):
    # The server may refuse the handshake or accept and close at once: either way, no events.
    with (
        pytest.raises((InvalidStatus, ConnectionClosed)),
        connect(
            asgi_live_server.ws_url + "/ws/events/",
            additional_headers={"Origin": asgi_live_server.url},
            open_timeout=5,
        ) as ws,
    ):
        ws.recv(timeout=5)


def test_restart_drops_connections_and_serves_again_on_the_same_port(
    asgi_live_server: AsgiLiveServer,
):
    user = UserFactory(username="watcher", permissions=["core.view_event"])
    machine = MachineFactory(hostname="live-02")
    port = asgi_live_server.port
    with _events(asgi_live_server, user) as ws:
        # when the server restarts
        asgi_live_server.restart()

        # then the open socket was closed by the old server
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=5)
    # and the new one serves on the same address: HTTP, and sockets that get new events
    assert asgi_live_server.port == port
    assert asgi_live_server.starts == 2
    assert requests.get(asgi_live_server.url + "/healthz", timeout=5).status_code == 200
    with _events(asgi_live_server, user) as again:
        services.machine_update(machine=machine, actor=Actor.for_user(user), description="y")
        assert _next_event(again, "machine.updated")["object"] == "live-02"
    assert "start 2 on port" in asgi_live_server.output()

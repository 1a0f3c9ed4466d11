"""Behind a proxy: X-Forwarded-For names the client only when the peer is in TRUSTED_PROXIES.

The web tier itself (``python -m rackpilot.webserver``: uvicorn, two worker processes) is started
for real once: it must not believe the header on its own either, and it must keep the agent
frame limit daphne had.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import websockets
from axes.models import AccessAttempt
from channels.generic.websocket import AsyncWebsocketConsumer
from channels.testing import WebsocketCommunicator
from django.test import Client
from django.urls import reverse

from netboot.addresses import client_address
from rackpilot.core.proxies import forwarded_client_asgi, resolve_client
from rackpilot.webserver import WebServerError, command_from_environment, web_command
from tests.live_server import AsgiLiveServer, server_environment

LB = "10.9.0.1"


@pytest.mark.parametrize(
    ("peer", "header", "trusted", "client"),
    [
        ("198.51.100.7", "203.0.113.5", [], "198.51.100.7"),  # nobody trusted
        ("198.51.100.7", "203.0.113.5", ["10.9.0.0/24"], "198.51.100.7"),  # peer not trusted
        (LB, "203.0.113.5", ["10.9.0.0/24"], "203.0.113.5"),
        # the client wrote a hop of its own: only the rightmost untrusted hop counts
        (LB, "1.2.3.4, 203.0.113.5", ["10.9.0.0/24"], "203.0.113.5"),
        # two trusted proxies in a row
        (LB, "203.0.113.5, 10.9.0.2", ["10.9.0.0/24"], "203.0.113.5"),
        # garbage from a trusted proxy vouches for nothing further left
        (LB, "203.0.113.5, not-an-ip", ["10.9.0.0/24"], LB),
        (LB, "", ["10.9.0.0/24"], LB),
        ("2001:db8::1", "2001:db8:1::9", ["2001:db8::/64"], "2001:db8:1::9"),
    ],
)
def test_the_client_is_the_first_hop_no_trusted_proxy_vouches_for(peer, header, trusted, client):
    assert resolve_client(peer, header, trusted) == client


PASSWORD = "correct-horse-battery"  # tests/factories.py UserFactory


def _fail_sign_in(client: Client, peer: str, forwarded: str) -> int:
    response = client.post(
        reverse("login"),
        {"username": "operator", "password": "wrong"},
        REMOTE_ADDR=peer,
        HTTP_X_FORWARDED_FOR=forwarded,
    )
    return response.status_code


@pytest.mark.django_db
def test_a_forged_header_does_not_escape_the_login_lockout(settings, operator):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = [f"{LB}/32"]
    client = Client()
    codes = [_fail_sign_in(client, "198.51.100.7", f"203.0.113.{n}") for n in range(4)]
    assert codes == [200, 200, 429, 429]
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"198.51.100.7"}


@pytest.mark.django_db
def test_behind_a_trusted_proxy_each_client_is_counted_apart(settings, operator):
    settings.AXES_FAILURE_LIMIT = 3
    settings.TRUSTED_PROXIES = [f"{LB}/32"]
    client = Client()
    assert [_fail_sign_in(client, LB, "203.0.113.5") for _ in range(3)][-1] == 429
    # another client behind the same load balancer still gets the form
    assert _fail_sign_in(Client(), LB, "203.0.113.6") == 200
    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {
        "203.0.113.5",
        "203.0.113.6",
    }


def test_netboot_believes_both_kinds_of_proxy(rf, settings):
    settings.TRUSTED_PROXIES = [f"{LB}/32"]
    settings.NETBOOT_TRUSTED_PROXIES = ["192.0.2.10/32"]
    # a relay on the provisioning network behind the load balancer: machine -> relay -> LB
    request = rf.get("/ipxe/", REMOTE_ADDR=LB, HTTP_X_FORWARDED_FOR="192.0.2.77, 192.0.2.10")
    assert client_address(request) == "192.0.2.77"
    # the relay alone is not trusted off the netboot paths: it is the site-wide client there
    assert resolve_client(LB, "192.0.2.77, 192.0.2.10", settings.TRUSTED_PROXIES) == "192.0.2.10"


class _EchoClient(AsyncWebsocketConsumer):
    async def connect(self) -> None:
        await self.accept()
        await self.send(json.dumps({"client": self.scope["client"][0]}))


@pytest.mark.parametrize(("trusted", "seen"), [([], LB), ([f"{LB}/32"], "203.0.113.5")])
def test_a_websocket_scope_gets_the_forwarded_client(settings, trusted, seen):
    settings.TRUSTED_PROXIES = trusted

    async def run() -> str:
        communicator = WebsocketCommunicator(
            forwarded_client_asgi(_EchoClient.as_asgi()),
            "/ws/echo/",
            headers=[(b"x-forwarded-for", b"203.0.113.5")],
        )
        communicator.scope["client"] = [LB, 40000]
        connected, _ = await communicator.connect()
        assert connected
        message = json.loads(await communicator.receive_from())
        await communicator.disconnect()
        return str(message["client"])

    assert asyncio.run(run()) == seen


# --- the web tier's command line -----------------------------------------------------------------


def test_the_web_command_follows_the_environment():
    command = command_from_environment(
        {"WEB_CONCURRENCY": "3", "PORT": "8123", "HOST": "0.0.0.0", "AGENT_MAX_FRAME_BYTES": "4096"}
    )
    assert command[1:4] == ["-m", "uvicorn", "rackpilot.asgi:application"]
    joined = " ".join(command)
    assert "--workers 3" in joined and "--port 8123" in joined and "--host 0.0.0.0" in joined
    assert "--ws-max-size 4096" in joined and "--no-proxy-headers" in joined
    assert "--ws-per-message-deflate false" in joined
    daphne = command_from_environment({"WEB_SERVER": "daphne", "WEB_CONCURRENCY": "1"})
    assert "--websocket-max-message-size" in daphne
    with pytest.raises(WebServerError, match="daphne runs one process"):
        command_from_environment({"WEB_SERVER": "daphne", "WEB_CONCURRENCY": "2"})
    with pytest.raises(WebServerError, match="WEB_SERVER must be one of"):
        command_from_environment({"WEB_SERVER": "apache"})
    with pytest.raises(WebServerError, match="WEB_CONCURRENCY"):
        command_from_environment({"WEB_CONCURRENCY": "many"})


@pytest.fixture
def web_tier(request: pytest.FixtureRequest, transactional_db: None) -> Iterator[AsgiLiveServer]:
    trusted = getattr(request, "param", "")
    env = {**server_environment(), "TRUSTED_PROXIES": trusted, "AGENT_MAX_FRAME_BYTES": "65536"}
    server = AsgiLiveServer(env)
    server.command = web_command(server="uvicorn", port=server.port, workers=2,
                                 max_frame_bytes=65536)  # fmt: skip
    try:
        server.start()
        yield server
    finally:
        server.stop()
        server.close()


def _post_sign_in(server: AsgiLiveServer, forwarded: str) -> None:
    data = urllib.parse.urlencode({"username": "nobody", "password": "wrong"}).encode()
    opener = urllib.request.build_opener()
    # The login form wants a CSRF cookie and token: fetch the form first.
    with opener.open(server.url + "/accounts/login/", timeout=10) as page:
        cookie = page.headers["Set-Cookie"].split(";")[0]
        token = cookie.split("=", 1)[1]
    request = urllib.request.Request(
        server.url + "/accounts/login/",
        data=data + f"&csrfmiddlewaretoken={token}".encode(),
        headers={"X-Forwarded-For": forwarded, "Cookie": cookie, "Referer": server.url + "/"},
    )
    try:
        opener.open(request, timeout=10).close()
    except urllib.error.HTTPError as exc:
        # the failed sign-in answers 200 with the form; anything else is the server's error
        raise AssertionError(f"{exc.code}: {exc.read()[:500]!r}") from exc


@pytest.mark.parametrize(
    ("web_tier", "recorded"),
    [("", "127.0.0.1"), ("127.0.0.1/32", "203.0.113.5")],
    indirect=["web_tier"],
)
def test_the_web_tier_believes_the_header_only_from_trusted_proxies(web_tier, recorded):
    _post_sign_in(web_tier, "203.0.113.5")
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == [recorded]


def test_the_web_tier_refuses_an_agent_frame_over_the_limit(web_tier):
    from rackpilot.core.actors import Actor
    from tests.factories import MachineFactory
    from workflows.agent_protocol.tokens import agent_token_issue

    _, raw = agent_token_issue(machine=MachineFactory(), actor=Actor.system("tests"))
    headers = {"Authorization": f"Bearer {raw}"}

    negotiated: list[str | None] = []

    async def send_big() -> Any:
        url = web_tier.ws_url + "/ws/agent/"
        async with websockets.connect(url, additional_headers=headers) as socket:
            assert socket.response is not None
            negotiated.append(socket.response.headers.get("Sec-WebSocket-Extensions"))
            await socket.send("x" * 70_000)
            return await asyncio.wait_for(socket.recv(), timeout=10)

    with pytest.raises(websockets.ConnectionClosed) as closed:
        asyncio.run(send_big())
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009  # message too big
    # The client offered permessage-deflate (websockets does by default); the web tier declines.
    assert negotiated == [None]

"""iPXE scripts through the ASGI application the web processes run: answered beside Django's
handler (rackpilot/core/lean_http.py) with what the middleware would have given them, and
everything else still reaching Django."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from asgiref.testing import ApplicationCommunicator
from django.test import Client

from netboot import views
from rackpilot.core import lean_http
from rackpilot.core.models import Event
from tests.netboot.conftest import make_default_build, make_machine, with_work

pytestmark = pytest.mark.django_db(transaction=True)

MAC = "52:54:00:7e:00:01"
IP = "10.7.0.5"


def asgi_get(path: str, **options: Any) -> tuple[int, dict[str, str], bytes]:
    """``asgi_exchange`` from synchronous code."""
    return asyncio.run(asgi_exchange(path, **options))


def watch_django(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Route the application's HTTP through a fresh lean layer whose Django side records every
    path it is handed: the list stays empty while the lean path answers everything."""
    from rackpilot import asgi

    through_django: list[str] = []

    def watch(app: Any) -> Any:
        async def wrapped(scope: dict[str, Any], receive: Any, send: Any) -> None:
            through_django.append(scope["path"])
            await app(scope, receive, send)

        return wrapped

    monkeypatch.setattr(
        asgi.application,
        "application_mapping",
        {
            **asgi.application.application_mapping,
            "http": lean_http.lean_http(watch(asgi.django_asgi_app), threads=2),
        },
    )
    return through_django


async def asgi_exchange(
    path: str,
    *,
    peer: str = "127.0.0.1",
    headers: dict[str, str] | None = None,
    method: str = "GET",
    query: str = "",
) -> tuple[int, dict[str, str], bytes]:
    """One request through the ASGI application: status, headers (lower-case) and body."""
    from rackpilot.asgi import application

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [
            (name.lower().encode(), value.encode())
            for name, value in ({"Host": "127.0.0.1:8000"} | (headers or {})).items()
        ],
        "client": (peer, 40000),
        "server": ("127.0.0.1", 8000),
    }
    communicator = ApplicationCommunicator(application, scope)
    await communicator.send_input({"type": "http.request", "body": b"", "more_body": False})
    start = await communicator.receive_output(30)
    body = b""
    while True:
        message = await communicator.receive_output(30)
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await communicator.wait(5)
    found = {name.decode().lower(): value.decode() for name, value in start["headers"]}
    return start["status"], found, body


@pytest.fixture
def machine(settings: Any) -> Any:
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    make_default_build()
    return with_work(make_machine(hostname="lean-01", mac=MAC, ip=IP))


def test_a_script_is_answered_beside_django_with_what_its_middleware_adds(
    machine: Any, monkeypatch: pytest.MonkeyPatch
):
    # Django's own handler must not see the request: every call reaching it is recorded.
    through_django = watch_django(monkeypatch)
    status, headers, body = asgi_get(f"/ipxe/{MAC}/auto.ipxe", headers={"X-Request-ID": "abc123"})
    assert status == 200, body
    assert body.startswith(b"#!ipxe") and b"rackpilot_token=rpa_" in body
    assert through_django == []
    assert headers["content-type"] == "text/plain; charset=utf-8"
    assert headers["x-request-id"] == "abc123"
    assert headers["x-content-type-options"] == "nosniff"
    assert "no-cache" in headers["cache-control"] and "no-store" in headers["cache-control"]
    assert "set-cookie" not in headers  # no session, no CSRF cookie
    served = Event.objects.get(verb="netboot.script_served")
    assert served.request_id == "abc123"
    assert served.changes["script"] == "hook" and served.changes["mac"] == MAC

    # The same script Django's handler serves (the nonce aside).
    django_body = Client(HTTP_HOST="127.0.0.1").get(f"/ipxe/{MAC}/auto.ipxe").content
    strip = lambda text: [line for line in text.split(b"\n") if b"rackpilot_token" not in line]  # noqa: E731
    assert strip(body) == strip(django_body)

    # Anything else under the prefix, and other methods, go to Django.
    assert asgi_get("/ipxe/", method="GET")[0] == 404
    assert through_django == ["/ipxe/"]
    status, _, _ = asgi_get(f"/ipxe/{MAC}/auto.ipxe", method="HEAD")
    assert status == 405
    assert through_django[-1] == f"/ipxe/{MAC}/auto.ipxe"


def test_the_client_address_follows_trusted_proxies_only(machine: Any, settings: Any):
    settings.NETBOOT_TRUSTED_PROXIES = []
    settings.TRUSTED_PROXIES = ["10.9.0.0/24"]
    # A machine whose inventory knows its IP gets its script only from that IP.
    status, _, body = asgi_get(
        f"/ipxe/{MAC}/auto.ipxe", peer="10.9.0.1", headers={"X-Forwarded-For": IP}
    )
    assert status == 200, body
    assert Event.objects.get(verb="netboot.script_served").changes["source_ip"] == IP
    # The same header from an untrusted peer is ignored: that peer is not the machine.
    status, _, body = asgi_get(
        f"/ipxe/{MAC}/auto.ipxe", peer="198.51.100.7", headers={"X-Forwarded-For": IP}
    )
    assert status == 404
    assert b"not served to 198.51.100.7" in body
    # By source address, through the trusted proxy.
    status, _, body = asgi_get("/ipxe/auto.ipxe", peer="10.9.0.1", headers={"X-Forwarded-For": IP})
    assert status == 200 and b"lean-01" in body


def test_refusals_a_bad_host_and_a_failing_view_are_answered_as_django_would(
    machine: Any, monkeypatch: pytest.MonkeyPatch
):
    status, headers, body = asgi_get("/ipxe/52:54:00:7e:00:99/auto.ipxe")
    assert status == 404 and b"no machine has an interface with MAC" in body
    assert headers["content-type"] == "text/plain; charset=utf-8"

    status, _, _ = asgi_get(f"/ipxe/{MAC}/auto.ipxe", headers={"Host": "evil.example"})
    assert status == 400  # ALLOWED_HOSTS, as CommonMiddleware enforces it for Django

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("database on fire")

    monkeypatch.setattr(views.services, "netboot_script_serve", broken)
    status, _, body = asgi_get(f"/ipxe/{MAC}/auto.ipxe")
    assert status == 500
    assert b"database on fire" not in body  # no traceback to an unauthenticated client


def test_scripts_at_once_are_stored_in_groups_and_sent_once_committed(settings: Any):
    from netboot import services
    from workflows.models import AgentToken

    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    settings.NETBOOT_TRUSTED_PROXIES = ["127.0.0.1/32"]
    make_default_build()
    macs = [f"52:54:00:7e:01:{n:02x}" for n in range(24)]
    for n, mac in enumerate(macs):
        with_work(make_machine(hostname=f"lean-g{n:02d}", mac=mac, ip=f"10.7.1.{n + 2}"))
    groups: list[int] = []
    write = services._boot_writes._write

    def counted(group: list[Any]) -> None:
        groups.append(len(group))
        write(group)

    services._boot_writes._write = counted
    try:

        async def all_at_once() -> list[tuple[int, dict[str, str], bytes]]:
            return await asyncio.gather(*(asgi_exchange(f"/ipxe/{mac}/auto.ipxe") for mac in macs))

        answers = asyncio.run(all_at_once())
    finally:
        services._boot_writes._write = write
    assert [status for status, _, _ in answers] == [200] * len(macs)
    # Each answer's nonce was stored before it was sent, with its machine's last-seen.
    prefixes = {body.split(b"rackpilot_token=rpa_")[1][:8].decode() for _, _, body in answers}
    assert set(AgentToken.objects.values_list("prefix", flat=True)) == prefixes
    assert Event.objects.filter(verb="netboot.script_served").count() == len(macs)
    assert sum(groups) == len(macs) and len(groups) < len(macs)  # some were written together


def test_a_script_whose_writes_fail_is_not_sent(machine: Any, monkeypatch: pytest.MonkeyPatch):
    from netboot import services
    from workflows.models import AgentToken

    def refused(group: list[Any]) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(services._boot_writes, "_write", refused)
    status, _, body = asgi_get(f"/ipxe/{MAC}/auto.ipxe")
    assert status == 500
    assert b"rackpilot_token" not in body and b"disk full" not in body
    assert not AgentToken.objects.exists()


def test_only_what_a_script_needs_is_skipped():
    from django.conf import settings

    kept = [path for path in settings.MIDDLEWARE if path not in lean_http.SKIPPED_MIDDLEWARE]
    assert kept == [
        "rackpilot.core.proxies.ForwardedClientMiddleware",
        "django.middleware.security.SecurityMiddleware",
        "rackpilot.core.middleware.RequestIdMiddleware",
        "django.middleware.common.CommonMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "rackpilot.core.middleware.PrometheusMiddleware",
    ]

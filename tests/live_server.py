"""An ASGI live server for tests that need WebSockets: daphne in a subprocess.

pytest-django's ``live_server`` is a WSGI server in a thread: it cannot answer a WebSocket.
``asgi_live_server`` starts the real ASGI application (``rackpilot.asgi``) with daphne, pointed
at the same test database and the same channel-layer prefix as the test process, so a service
called in the test reaches the browsers and agents connected to the server, and what the server
stores is visible to the test. Use it from ``@pytest.mark.django_db(transaction=True)`` tests:
the server can only see committed rows.

Import the fixture into a test module or a conftest::

    from tests.live_server import asgi_live_server  # noqa: F401

``sign_in_page`` and ``signed_in_headers`` sign a user in (a browser; an HTTP or WebSocket
client). In a Playwright test, call services that publish live updates through
``call_in_thread``: Playwright's event loop in the test's thread swallows them otherwise.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
from django.conf import settings
from django.db import connection, connections
from django.test import Client

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = ROOT / "test-artifacts"
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0
OUTPUT_TAIL = 20_000
T = TypeVar("T")


class ServerError(RuntimeError):
    """The server did not start (or died); the message carries its output."""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def shared_database_url() -> str:
    """A DATABASE_URL naming the database this test process uses (the test database)."""
    db = connection.settings_dict
    engine = db["ENGINE"]
    if engine.endswith("sqlite3"):
        name = str(db["NAME"])
        if name == ":memory:" or "mode=memory" in name or not name:
            pytest.skip("the ASGI live server needs a database another process can open")
        return f"sqlite:///{Path(name).resolve()}"
    if not engine.endswith("postgresql"):
        pytest.skip(f"the ASGI live server does not know how to share {engine}")
    user = quote(str(db.get("USER") or ""), safe="")
    password = quote(str(db.get("PASSWORD") or ""), safe="")
    credentials = f"{user}:{password}@" if password else (f"{user}@" if user else "")
    host = str(db.get("HOST") or "")
    # A socket directory is a host too; percent-encoded it survives URL parsing.
    host = quote(host, safe="") if host.startswith("/") else host
    port = f":{db['PORT']}" if db.get("PORT") else ""
    return f"postgres://{credentials}{host}{port}/{quote(str(db['NAME']), safe='')}"


def server_environment() -> dict[str, str]:
    """The test process's environment plus what makes the server share its state."""
    env = dict(os.environ)
    env.update(
        {
            "DJANGO_SETTINGS_MODULE": "rackpilot.settings",
            "DATABASE_URL": shared_database_url(),
            # The same prefix as the test's channel layer (see tests/conftest.py), so groups
            # joined by the server's consumers are the groups the test's services publish to.
            "CHANNELS_PREFIX": settings.CHANNEL_LAYERS["default"]["CONFIG"]["prefix"],
            # Sessions carry an HMAC of the password hash keyed by SECRET_KEY: a user signed
            # in by the test must be signed in on the server too.
            "SECRET_KEY": settings.SECRET_KEY,
            "ALLOWED_HOSTS": "127.0.0.1,localhost",
            "PYTHONUNBUFFERED": "1",
            # Servers run as in production, on the connection pool, even where the test
            # process runs without one (Makefile, pytest).
            "DB_POOL_MAX_SIZE": "10",
            # Feature switches a test turned on with the settings fixture hold on the server.
            "NETBOOT_DISCOVERY": str(settings.NETBOOT_DISCOVERY).lower(),
            "NETBOOT_DISCOVERY_SUBNETS": ",".join(settings.NETBOOT_DISCOVERY_SUBNETS),
            "NETBOOT_TRUSTED_PROXIES": ",".join(settings.NETBOOT_TRUSTED_PROXIES),
            "TRUSTED_PROXIES": ",".join(settings.TRUSTED_PROXIES),
        }
    )
    if settings.REDIS_URL:
        env["REDIS_URL"] = settings.REDIS_URL
    else:
        env.pop("REDIS_URL", None)
    return env


class AsgiLiveServer:
    """daphne serving ``rackpilot.asgi:application`` on 127.0.0.1:<port>."""

    host = "127.0.0.1"

    def __init__(
        self, env: dict[str, str], port: int | None = None, command: list[str] | None = None
    ) -> None:
        self.env = env
        self.port = port or free_port()
        # Another server's command line (the product's web tier: rackpilot/webserver.py).
        self.command = command
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0
        # A file rather than a pipe: a chatty server can never block on a full pipe.
        self._log = tempfile.NamedTemporaryFile(  # noqa: SIM115 (closed by close())
            prefix="asgi-live-server-", suffix=".log"
        )

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self.host}:{self.port}"

    def output(self) -> str:
        """What the server printed so far (all starts), the last part if it is long."""
        self._log.flush()
        text = Path(self._log.name).read_bytes().decode("utf-8", "replace")
        return text if len(text) <= OUTPUT_TAIL else "…\n" + text[-OUTPUT_TAIL:]

    def start(self) -> None:
        if self.process is not None and self.process.poll() is None:
            raise ServerError("the server is already running")
        self.starts += 1
        self._log.write(f"--- start {self.starts} on port {self.port} ---\n".encode())
        self._log.flush()
        command = self.command or [
            sys.executable,
            "-m",
            "daphne",
            "-b",
            self.host,
            "-p",
            str(self.port),
            "--access-log",
            "-",
            "rackpilot.asgi:application",
        ]
        self.process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            # Its own process group: stopping it never signals the test run.
            start_new_session=True,
        )
        self._wait_healthy()

    def _wait_healthy(self) -> None:
        assert self.process is not None
        deadline = time.monotonic() + START_TIMEOUT
        last_error = ""
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise ServerError(
                    f"daphne exited with {self.process.returncode} while starting:\n"
                    + self.output()
                )
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2) as response:
                    if response.status == 200:
                        return
            except urllib.error.HTTPError as exc:
                # 503: up, but the database or Redis is not; that will not fix itself.
                last_error = f"/healthz answered {exc.code}: {exc.read().decode()[:500]}"
            except OSError as exc:
                last_error = str(exc)
            time.sleep(0.05)
        self.stop()
        raise ServerError(
            f"daphne did not answer /healthz within {START_TIMEOUT:.0f} s ({last_error}):\n"
            + self.output()
        )

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)

    def kill(self) -> None:
        """Stop without a graceful shutdown, as a crash would (for fault tests)."""
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=STOP_TIMEOUT)

    def restart(self) -> None:
        """Stop and start again on the same port: clients see the server go away and return."""
        self.stop()
        self.start()

    def close(self) -> None:
        self.stop()
        self._log.close()


# --- showing the server's output with a failed test ---------------------------------------------

_server_key = pytest.StashKey[AsgiLiveServer]()


class _ReportServerOutput:
    """Adds the server's output to the report of a failed test, next to its captured output."""

    @pytest.hookimpl(wrapper=True)
    def pytest_runtest_makereport(self, item: pytest.Item, call: pytest.CallInfo[Any]) -> Any:
        report = yield
        server = item.stash.get(_server_key, None)
        if server is not None and report.failed:
            report.sections.append((f"ASGI live server output ({report.when})", server.output()))
        return report


_PLUGIN_NAME = "rackpilot-asgi-live-server"


def _register_reporting(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin(_PLUGIN_NAME):
        config.pluginmanager.register(_ReportServerOutput(), _PLUGIN_NAME)


@pytest.fixture
def asgi_live_server(
    request: pytest.FixtureRequest, transactional_db: None
) -> Iterator[AsgiLiveServer]:
    """A running daphne for this test, on the test database and channel-layer prefix.

    Function-scoped: the channel-layer prefix and the database are the test's own, and each
    test gets a server nobody else has restarted or killed.
    """
    _register_reporting(request.config)
    server = AsgiLiveServer(server_environment())
    request.node.stash[_server_key] = server
    failed_before = request.session.testsfailed
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if request.session.testsfailed > failed_before:
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            name = re.sub(r"[^A-Za-z0-9_.-]+", "-", request.node.name)
            (ARTIFACTS / f"asgi-server-{name}.log").write_text(server.output())
        server.close()


# --- signing in --------------------------------------------------------------------------------


def session_cookie(user: Any) -> tuple[str, str]:
    """(cookie name, value) of a new session for ``user``, stored in the shared database."""
    client = Client()
    client.force_login(user)
    return settings.SESSION_COOKIE_NAME, client.cookies[settings.SESSION_COOKIE_NAME].value


def sign_in_page(page: Any, server: AsgiLiveServer, user: Any) -> Any:
    """Give a Playwright page's browser context ``user``'s session on ``server``."""
    name, value = session_cookie(user)
    page.context.add_cookies([{"name": name, "value": value, "url": server.url}])
    return page


def signed_in_headers(server: AsgiLiveServer, user: Any) -> dict[str, str]:
    """Headers an HTTP or WebSocket client sends to act as ``user`` (browser sockets check the
    Origin, so it is set to the server's own)."""
    name, value = session_cookie(user)
    return {"Cookie": f"{name}={value}", "Origin": server.url}


# --- calling services from a Playwright test ---------------------------------------------------


def call_in_thread(func: Callable[..., T], /, **kwargs: Any) -> T:
    """``func(**kwargs)`` in a thread of its own, and its result.

    Playwright's sync API keeps an asyncio loop running in the test's thread, and
    ``async_to_sync`` refuses to run there: a service called directly from a browser test
    commits its change but its live update is dropped (``publish`` logs a warning). Called
    through here, the update reaches the server's WebSockets as in production.
    """
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["result"] = func(**kwargs)
        except BaseException as exc:
            outcome["error"] = exc
        finally:
            # This thread's connection would otherwise outlive the test and block the flush.
            connections.close_all()

    thread = threading.Thread(target=run, name=f"call-{getattr(func, '__name__', 'service')}")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["result"]  # type: ignore[no-any-return]

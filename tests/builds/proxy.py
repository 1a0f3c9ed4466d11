"""A loopback registry front for tests: forwards to the real test registry and can demand a
bearer token (issued against Basic credentials) or corrupt the blobs it serves."""

from __future__ import annotations

import base64
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

TOKEN = "test-token-123"


@contextmanager
def registry_front(
    upstream: str, *, corrupt_blobs: bool = False, credentials: tuple[str, str] | None = None
) -> Iterator[tuple[str, list[str]]]:
    """Yield ("127.0.0.1:<port>", requested paths)."""
    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args: object) -> None:
            pass

        def _send(self, status: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            seen.append(self.path)
            host = f"127.0.0.1:{self.server.server_address[1]}"
            if credentials and self.path.startswith("/token"):
                expected = base64.b64encode(":".join(credentials).encode()).decode()
                if self.headers.get("Authorization") != f"Basic {expected}":
                    self._send(401, b"{}", {})
                    return
                self._send(200, f'{{"token": "{TOKEN}"}}'.encode(), {})
                return
            if credentials and self.headers.get("Authorization") != f"Bearer {TOKEN}":
                challenge = (
                    f'Bearer realm="http://{host}/token",service="test",scope="repository:x:pull"'
                )
                self._send(401, b"{}", {"WWW-Authenticate": challenge})
                return
            response = requests.get(
                f"http://{upstream}{self.path}",
                headers={"Accept": self.headers.get("Accept", "*/*")},
                timeout=30,
            )
            body = response.content
            if corrupt_blobs and "/blobs/" in self.path and body:
                body = bytes([body[0] ^ 0xFF]) + body[1:]
            headers = {"Content-Type": response.headers.get("Content-Type", "")}
            self._send(response.status_code, body, headers)

        do_HEAD = do_GET

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()

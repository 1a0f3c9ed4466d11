"""The iPXE script and artifact endpoints served next to Django's ASGI handler rather than
through it.

A rack powered on at once asks for its scripts in the same second, and under Django's ASGI
handler each of those requests crossed between the event loop and worker threads three times
(WhiteNoise is synchronous, django-axes and django-htmx asynchronous, so the middleware stack
changes mode twice) and ran sessions, CSRF, authentication and messages it has no use for: about
as much CPU as the view itself (profiled with py-spy, `benchmarks/netboot.py`). Here the view runs
once in a thread of a small pool, behind the middleware that matters to an unauthenticated GET
(everything in ``MIDDLEWARE`` but those listed in ``SKIPPED_MIDDLEWARE``: the client address
behind trusted proxies, the security headers, the request id, the host check, the metrics), with
Django's request signals around it as its handler sends them (connections are returned and
checked exactly as for any other request). Writes a view hands to a group commit are waited for
here, on the event loop, before the response goes out: the view's thread and its database
connection serve the next request meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import io
from collections.abc import Awaitable, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, cast

from django.conf import settings
from django.core import signals
from django.core.handlers.asgi import ASGIHandler, ASGIRequest
from django.core.handlers.exception import convert_exception_to_response, response_for_exception
from django.http import HttpRequest, HttpResponseBase
from django.urls import Resolver404, ResolverMatch, resolve
from django.utils.module_loading import import_string

from rackpilot.core.group_commit import COMMIT_TIMEOUT, awaited_commits

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
Handler = Callable[[HttpRequest], HttpResponseBase]

# Views served here, and the path prefixes that can reach them (anything else goes to Django
# without a resolve). Artifact downloads come a rack at a time as well: behind nginx each is a
# check and an X-Accel-Redirect, and otherwise a stream whose chunks are sent as they are read.
LEAN_VIEWS = frozenset({"netboot:script-by-mac", "netboot:script-by-ip", "netboot:artifact"})
LEAN_PREFIXES = ("/ipxe/", "/artifacts/")

# What an unauthenticated GET for a plain-text script does not need. Middleware added later is
# run unless it is named here.
SKIPPED_MIDDLEWARE = frozenset(
    {
        "whitenoise.middleware.WhiteNoiseMiddleware",
        "django.contrib.sessions.middleware.SessionMiddleware",
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.contrib.auth.middleware.AuthenticationMiddleware",
        "django.contrib.messages.middleware.MessageMiddleware",
        "django_htmx.middleware.HtmxMiddleware",
        "axes.middleware.AxesMiddleware",
    }
)


def _call_view(request: HttpRequest) -> HttpResponseBase:
    match: ResolverMatch = request.resolver_match  # type: ignore[assignment]
    response: HttpResponseBase = match.func(request, *match.args, **match.kwargs)
    return response


def build_handler() -> Handler:
    """The view behind the kept middleware, each wrapped as Django's handler wraps them."""
    # Synchronous all the way: convert_exception_to_response keeps the mode of what it wraps.
    handler: Any = convert_exception_to_response(_call_view)
    for path in reversed(settings.MIDDLEWARE):
        if path not in SKIPPED_MIDDLEWARE:
            handler = convert_exception_to_response(import_string(path)(handler))
    return cast(Handler, handler)


def _respond(handler: Handler, request: HttpRequest, scope: dict[str, Any]) -> HttpResponseBase:
    """The response, with ``request_finished`` sent in this thread, the one whose database
    connections the view used (they are returned or closed as after any request). A body that
    is a stream is read later; closing the response then closes what it reads from."""
    signals.request_started.send(sender=ASGIHandler, scope=scope)
    try:
        response = handler(request)
    finally:
        signals.request_finished.send(sender=ASGIHandler)
    if not response.streaming:
        response.close()
    return response


def lean_http(django_app: ASGIApp, *, threads: int) -> ASGIApp:
    """``django_app`` with the LEAN_VIEWS answered here, ``threads`` at a time per process."""
    executor = ThreadPoolExecutor(max_workers=threads, thread_name_prefix="lean-http")
    handler: Handler | None = None

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        nonlocal handler
        match = _lean_match(scope)
        if match is None:
            await django_app(scope, receive, send)
            return
        if handler is None:
            handler = build_handler()
        request = ASGIRequest(scope, io.BytesIO())
        request.resolver_match = match
        pending: list[Future[None]] = []
        context = contextvars.copy_context()
        context.run(awaited_commits.set, pending)
        loop = asyncio.get_running_loop()
        response = await loop.run_in_executor(
            executor, context.run, _respond, handler, request, scope
        )
        if pending:
            response = await _committed(response, pending, request, loop, executor, context)
        try:
            await _send_response(response, send, loop, executor)
        finally:
            if response.streaming:
                # What the stream read from (request_finished again: harmless, the signal's
                # receivers only let go of what this thread holds).
                await loop.run_in_executor(executor, context.run, response.close)

    return application


async def _committed(
    response: HttpResponseBase,
    pending: list[Future[None]],
    request: HttpRequest,
    loop: asyncio.AbstractEventLoop,
    executor: ThreadPoolExecutor,
    context: contextvars.Context,
) -> HttpResponseBase:
    """``response`` once the writes the view handed over are committed; if they failed, what
    Django answers for the exception (a 500: the client asks again)."""
    try:
        waits = [asyncio.wrap_future(done) for done in pending]
        await asyncio.wait_for(asyncio.gather(*waits), timeout=COMMIT_TIMEOUT)
    except Exception as exc:
        response.close()
        failed: HttpResponseBase = await loop.run_in_executor(
            executor, context.run, response_for_exception, request, exc
        )
        return failed
    return response


async def _send_response(
    response: HttpResponseBase,
    send: Any,
    loop: asyncio.AbstractEventLoop,
    executor: ThreadPoolExecutor,
) -> None:
    headers = [
        (name.encode("latin-1"), value.encode("latin-1")) for name, value in response.items()
    ]
    headers += [
        (b"Set-Cookie", cookie.output(header="").strip().encode("latin-1"))
        for cookie in response.cookies.values()
    ]
    await send({"type": "http.response.start", "status": response.status_code, "headers": headers})
    if not response.streaming:
        await send({"type": "http.response.body", "body": response.content})  # type: ignore[attr-defined]
        return
    content: Any = response.streaming_content  # type: ignore[attr-defined]
    if _sends_any_buffer(send) and getattr(response, "buffers", None) is not None:
        content = response.buffers  # type: ignore[attr-defined]
    if response.is_async:  # type: ignore[attr-defined]
        async with contextlib.aclosing(content):  # a client gone mid-way stops the reads too
            async for chunk in content:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
    else:
        chunks = iter(content)
        while (chunk := await loop.run_in_executor(executor, next, chunks, None)) is not None:
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _sends_any_buffer(send: Any) -> bool:
    """Whether the server's ``send`` takes any buffer as a body, not only bytes. uvicorn's
    (httptools and h11 alike) writes the body to its transport as it is, so a response that
    offers its chunks as buffers (a mapped file's views: builds/ranges.py) is sent from them
    without the copy into bytes that ``streaming_content`` makes. The ASGI specification says
    bytes, and other servers (daphne) get bytes."""
    return str(getattr(send, "__module__", "")).startswith("uvicorn.")


def _lean_match(scope: dict[str, Any]) -> ResolverMatch | None:
    if scope["type"] != "http" or scope.get("root_path") or scope.get("method") != "GET":
        return None
    path: str = scope["path"]
    if not path.startswith(LEAN_PREFIXES):
        return None
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match if match.view_name in LEAN_VIEWS else None

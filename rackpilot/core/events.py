"""Recording audit events and publishing them to live subscribers after the commit."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import datetime
import decimal
import hashlib
import hmac
import json
import logging
import os
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.contrib.contenttypes.models import ContentType
from django.db import models, transaction

from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from rackpilot.core.request_context import request_id_var

logger = logging.getLogger(__name__)

EVENTS_GROUP = "events"
# Values that never appear in an event's changes, whatever the model.
SECRET_FIELDS = frozenset({"password", "password_encrypted"})
# Fields whose values are secrets to anyone without view_secrets (cloud-init user data holds
# passwords and keys, iPXE scripts and action environments tokens): events record that they
# changed, never what they were or became.
SECRET_VALUE_FIELDS = frozenset({"user_data", "vendor_data", "ipxe_script", "environment"})
HIDDEN_VALUE = "(hidden)"


def _fingerprint(value: Any) -> str:
    """Tells two values apart for a diff without keeping either (keyed: not guessable)."""
    text = json.dumps(_jsonable(value), sort_keys=True, default=str)
    digest = hmac.new(settings.SECRET_KEY.encode(), text.encode(), hashlib.sha256).hexdigest()
    return f"{HIDDEN_VALUE} {digest[:16]}"


def _jsonable(value: Any) -> Any:
    if isinstance(value, models.Model):
        return str(value)
    if isinstance(value, datetime.datetime | datetime.date):
        return value.isoformat()
    if isinstance(value, decimal.Decimal | uuid.UUID):
        return str(value)
    if isinstance(value, list | tuple | set):
        return [_jsonable(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    return value


def snapshot(instance: models.Model, fields: Iterable[str]) -> dict[str, Any]:
    """The current values of ``fields`` in a JSON-friendly form, for a later diff."""
    return {
        name: _fingerprint(getattr(instance, name))
        if name in SECRET_VALUE_FIELDS
        else _jsonable(getattr(instance, name))
        for name in fields
        if name not in SECRET_FIELDS
    }


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    """``{field: [old, new]}`` for every field whose value changed."""
    return redact_changes(
        {
            key: [before.get(key), after.get(key)]
            for key in sorted(set(before) | set(after))
            if before.get(key) != after.get(key)
        }
    )


def redact_changes(changes: dict[str, Any]) -> dict[str, Any]:
    """The changes with every secret value replaced by a marker that only says it changed."""
    redacted: dict[str, Any] = {}
    for key, value in changes.items():
        if key in SECRET_FIELDS:
            continue
        if key in SECRET_VALUE_FIELDS:
            redacted[key] = [HIDDEN_VALUE, f"{HIDDEN_VALUE}, changed"]
        else:
            redacted[key] = value
    return redacted


_last_publish_warning = 0.0
PUBLISH_WARNING_INTERVAL = 60.0


class _PublisherLoop:
    """One event loop thread per process that sends for synchronous code.

    ``async_to_sync`` outside an ASGI server runs every call in a new event loop, and
    channels_redis keeps its Redis connections per loop: each publish from a view under the
    test client, a Celery task or a command opened a new Redis connection (about 5 ms, two per
    served iPXE script). A long-lived loop keeps them. Waiting for each send keeps one caller's
    messages in order. A forked child (a Celery worker) starts its own.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():
                loop = asyncio.new_event_loop()
                threading.Thread(
                    target=loop.run_forever, name="channel-layer-publisher", daemon=True
                ).start()
                self._loop, self._pid = loop, os.getpid()
            return self._loop

    def send(self, layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> None:
        asyncio.run_coroutine_threadsafe(_send_all(layer, messages), self.loop()).result(
            timeout=PUBLISH_TIMEOUT
        )


async def _send_all(layer: Any, messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Send to many groups at once: each group's messages in order; in one pipeline where the
    layer has one (rackpilot.core.channel_layer), else the groups side by side (one after the
    other, a hundred groups would wait for a hundred round trips)."""
    send_many = getattr(layer, "group_send_many", None)
    if send_many is not None:
        await send_many(messages)
        return
    by_group: dict[str, list[dict[str, Any]]] = {}
    for group, message in messages:
        by_group.setdefault(group, []).append(message)

    async def in_order(group: str, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await layer.group_send(group, message)

    await asyncio.gather(*(in_order(g, m) for g, m in by_group.items()))


_publisher = _PublisherLoop()
PUBLISH_TIMEOUT = 10.0


def publish(group: str, message: dict[str, Any]) -> None:
    """Send to a channel-layer group. Callers use it from ``transaction.on_commit``."""
    publish_many([(group, message)])


# Where publish_many puts its messages inside a ``publishes_collected()`` block (None outside).
_collected: contextvars.ContextVar[list[tuple[str, dict[str, Any]]] | None] = (
    contextvars.ContextVar("rackpilot_collected_publishes", default=None)
)


@contextlib.contextmanager
def publishes_collected() -> Iterator[list[tuple[str, dict[str, Any]]]]:
    """Inside, what is published (after each commit, as always) is collected in the list this
    yields instead of being sent, for a caller on an event loop to send with
    ``publish_collected`` once the worker thread is done: an agent's message then costs no trip
    to the publisher thread and no worker thread waiting on Redis. A block that raises sends
    what it collected before the exception goes on: what committed is announced either way."""
    collected: list[tuple[str, dict[str, Any]]] = []
    token = _collected.set(collected)
    try:
        yield collected
    except BaseException:
        _collected.reset(token)
        publish_many(collected)
        raise
    else:
        _collected.reset(token)


async def publish_collected(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """Send what a ``publishes_collected()`` block collected, from the caller's event loop."""
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    try:
        await asyncio.wait_for(_send_all(layer, messages), PUBLISH_TIMEOUT)
    except Exception as exc:
        _warn_unpublished(messages, exc)


def _warn_unpublished(messages: list[tuple[str, dict[str, Any]]], exc: Exception) -> None:
    """The change is committed and clients can refetch it; a down channel layer must not flood
    the log with one traceback per event."""
    global _last_publish_warning
    now = time.monotonic()
    if now - _last_publish_warning > PUBLISH_WARNING_INTERVAL:
        _last_publish_warning = now
        groups = ", ".join(sorted({group for group, _ in messages})[:3])
        logger.warning("could not publish live updates (to %s): %s", groups, exc)


def publish_many(messages: list[tuple[str, dict[str, Any]]]) -> None:
    """``publish`` for many (group, message) pairs: each group's in order, groups at once."""
    collected = _collected.get()
    if collected is not None:
        collected.extend(messages)
        return
    layer = get_channel_layer()
    if layer is None or not messages:
        return
    try:
        _publisher.send(layer, messages)
    except Exception as exc:
        _warn_unpublished(messages, exc)


def publish_many_on_commit(messages: list[tuple[str, dict[str, Any]]]) -> None:
    transaction.on_commit(lambda: publish_many(messages))


def publish_on_commit(group: str, message: dict[str, Any]) -> None:
    transaction.on_commit(lambda: publish(group, message))


# The events a ``batched_events()`` block has recorded so far (None outside one).
_batch: contextvars.ContextVar[list[Event] | None] = contextvars.ContextVar(
    "rackpilot_event_batch", default=None
)


@contextlib.contextmanager
def batched_events() -> Iterator[None]:
    """Events recorded inside are written as one INSERT when the block ends (inside the caller's
    transaction, so they commit or roll back with its changes) and published after the commit.
    For hot paths that record several events per request (an iPXE script records two); the
    Event objects ``record_event`` returns inside have no id until the block ends."""
    if _batch.get() is not None:  # nested: the outer block writes them all
        yield
        return
    events: list[Event] = []
    token = _batch.set(events)
    try:
        yield
    finally:
        _batch.reset(token)
    if events:
        created = Event.objects.bulk_create(events)
        publish_many_on_commit([(EVENTS_GROUP, _payload(event)) for event in created])


def _payload(event: Event) -> dict[str, Any]:
    return {
        "type": "event.created",
        "event": {
            "id": event.pk,
            "timestamp": event.timestamp.isoformat(),
            "actor": event.actor_name,
            "actor_kind": event.actor_kind,
            "verb": event.verb,
            "object": event.object_repr,
            "object_type": event.content_type.model if event.content_type else "",
            "object_id": event.object_id,
            "machine_id": event.machine_id,
            "message": event.message,
        },
    }


def record_event(
    *,
    actor: Actor,
    verb: str,
    obj: models.Model | None = None,
    machine: Any = None,
    changes: dict[str, Any] | None = None,
    message: str = "",
) -> Event:
    event = Event(
        actor_kind=actor.kind,
        actor_name=actor.name[:150],
        actor_user_id=actor.user_id,
        verb=verb,
        content_type=ContentType.objects.get_for_model(obj) if obj is not None else None,
        object_id=str(obj.pk) if obj is not None and obj.pk is not None else "",
        object_repr=str(obj)[:255] if obj is not None else "",
        machine_id=getattr(machine, "pk", machine),
        changes=_jsonable(redact_changes(changes or {})),
        message=message,
        request_id=request_id_var.get(),
    )
    batch = _batch.get()
    if batch is not None:
        batch.append(event)
        return event
    event.save(force_insert=True)
    publish_on_commit(EVENTS_GROUP, _payload(event))
    return event

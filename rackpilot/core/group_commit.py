"""Writes of many request threads committed together by one writer thread per process.

A rack powered on at once asks for its iPXE scripts in the same second, and each script writes
a little: its boot nonce, the machine's last-seen time, two events. Written by each request in
its own transaction, that was five statements and a commit per script, and the statements'
Python (Django's compilers, psycopg's quoting) cost more CPU than the script itself
(`benchmarks/netboot.py`, py-spy). Here each request hands its writes over and waits: the writer
takes everything that arrived while it wrote the previous group, writes it with one statement
per table in one transaction, and answers every waiting request once that transaction has
committed — so nothing is sent before what it refers to (the nonce) is stored, and a crash
loses only requests that were never answered.

A group that fails is written again one item at a time, each in its own transaction, so one
bad item (a machine deleted meanwhile) fails its own request only.

A caller already inside a transaction writes in it, in its own thread: its writes must commit or
roll back with the rest of its work (and a test's data, uncommitted, is visible there only).

A server that can wait without holding a thread (``rackpilot.core.lean_http``) sets
``awaited_commits``: ``commit`` then hands the item over and returns at once, and the server
sends the response when the commit is done, so a few threads serve many requests waiting for one
group.
"""

from __future__ import annotations

import contextvars
import logging
import os
import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future
from typing import Generic, TypeVar

from django.db import close_old_connections, connection, transaction

logger = logging.getLogger(__name__)

Item = TypeVar("Item")

# How long a request waits for its group to commit before giving up (the writer is stuck on a
# lock or the database is gone; the request answers 500 and the client retries).
COMMIT_TIMEOUT = 30.0

# Where ``commit`` leaves its pending commit for the server to wait for (None: it waits itself).
awaited_commits: contextvars.ContextVar[list[Future[None]] | None] = contextvars.ContextVar(
    "rackpilot_awaited_commits", default=None
)


class GroupCommit(Generic[Item]):
    """``commit(item)`` writes ``item`` through ``write(items)`` together with the items other
    threads handed over meanwhile (at most ``max_group`` at once) and returns once they are
    committed (or, under ``awaited_commits``, at once); ``write`` runs inside a transaction and
    raises to refuse the group."""

    def __init__(self, name: str, write: Callable[[list[Item]], None], max_group: int = 256):
        self.name, self._write, self._max_group = name, write, max_group
        self._queue: queue.SimpleQueue[tuple[Item, Future[None]]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._pid = 0

    def commit(self, item: Item) -> None:
        if connection.in_atomic_block:
            with transaction.atomic(savepoint=False):
                self._write([item])
            return
        self._ensure_writer()
        done: Future[None] = Future()
        self._queue.put((item, done))
        waiting = awaited_commits.get()
        if waiting is not None:
            waiting.append(done)
            return
        done.result(timeout=COMMIT_TIMEOUT)

    def _ensure_writer(self) -> None:
        with self._lock:
            if self._pid != os.getpid():  # first use, or a forked child: its own writer
                self._queue = queue.SimpleQueue()
                threading.Thread(target=self._run, name=self.name, daemon=True).start()
                self._pid = os.getpid()

    def _run(self) -> None:
        while True:
            group = [self._queue.get()]
            while len(group) < self._max_group:
                try:
                    group.append(self._queue.get_nowait())
                except queue.Empty:
                    break
            items = [item for item, _ in group]
            close_old_connections()  # what request_started does: no stale connection is used
            try:
                failures = self._write_group(items)
            except Exception as exc:  # never leave a request waiting out its timeout
                failures = [exc] * len(items)
            finally:
                # What request_finished does after a request: the connection goes back to the
                # pool, or is closed when it is too old or broken.
                close_old_connections()
            # Answered once the group is committed and its live updates published.
            for (_, done), failure in zip(group, failures, strict=True):
                if failure is None:
                    done.set_result(None)
                else:
                    done.set_exception(failure)

    def _write_group(self, items: list[Item]) -> list[Exception | None]:
        """What failed each item (None: committed)."""
        try:
            self._write_committed(items)
            return [None] * len(items)
        except Exception as exc:
            if len(items) == 1:
                return [exc]
            logger.info("%s: a group of %d failed (%s); each alone", self.name, len(items), exc)
        failures: list[Exception | None] = []
        for item in items:
            try:
                self._write_committed([item])
                failures.append(None)
            except Exception as item_exc:
                failures.append(item_exc)
        return failures

    def _write_committed(self, items: list[Item]) -> None:
        committed = False

        def mark() -> None:
            nonlocal committed
            committed = True

        try:
            with transaction.atomic():
                transaction.on_commit(mark)  # the first hook: runs only if the commit did
                self._write(items)
        except Exception:
            if not committed:
                raise
            # A later hook (a live update) failed after the commit: the writes are stored and
            # must not be written again.
            logger.exception("%s: after the commit of %d items", self.name, len(items))

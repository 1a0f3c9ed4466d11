"""A list's rows as a CSV download, streamed: every row the filter selects, not one page.

Rows are read with ``QuerySet.iterator(chunk_size=...)``: a server-side cursor on PostgreSQL,
and the list's ``prefetch_related`` run once per chunk, so the number of queries does not
grow with the rows (one set per ``CHUNK_ROWS`` rows) and memory holds one chunk at a time.

Cells that a spreadsheet would read as a formula (starting with ``=``, ``+``, ``-``, ``@``, a
tab or a carriage return) get a leading apostrophe: an exported hostname or event message
must never run in the operator's spreadsheet. Only the columns a list declares are written,
and no list declares a secret.
"""

from __future__ import annotations

import csv
import datetime
from collections.abc import AsyncIterator, Iterable, Iterator, Sequence
from functools import partial
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.asgi import ASGIRequest
from django.db.models import QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.utils import timezone

from rackpilot.core.columns import Column

CHUNK_ROWS = 2000
# Rows written per piece of the response: fewer, larger writes to the socket.
ROWS_PER_PIECE = 200
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def cell(value: object) -> str:
    """``value`` as CSV text, defused if a spreadsheet would take it for a formula."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        text = value.isoformat()
    elif isinstance(value, list | tuple):
        text = ", ".join(str(item) for item in value)
    else:
        text = str(value)
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


class _Line:
    """A file-like object whose ``write`` hands back what csv.writer wrote."""

    def write(self, text: str) -> str:
        return text


def csv_lines(rows: Iterable[Any], columns: Sequence[Column]) -> Iterator[str]:
    """The header, then one piece of text per ``ROWS_PER_PIECE`` rows."""
    writer = csv.writer(_Line())
    yield writer.writerow([column.label for column in columns])
    piece: list[str] = []
    for row in rows:
        piece.append(writer.writerow([cell(column.value(row)) for column in columns]))
        if len(piece) >= ROWS_PER_PIECE:
            yield "".join(piece)
            piece = []
    if piece:
        yield "".join(piece)


async def _in_sync_thread(pieces: Iterator[str]) -> AsyncIterator[str]:
    # Under ASGI a synchronous iterator would be read into memory whole before the first byte
    # is sent: read it piece by piece instead, always in the request's one sync thread (the
    # cursor and its database connection live there).
    take = sync_to_async(partial(next, pieces, None), thread_sensitive=True)
    while (piece := await take()) is not None:
        yield piece


def csv_response(
    request: HttpRequest,
    *,
    rows: QuerySet[Any],
    columns: Sequence[Column],
    name: str,
    chunk_size: int = CHUNK_ROWS,
) -> StreamingHttpResponse:
    """Stream ``rows`` (every one of them) as ``<name>-<time>.csv`` with ``columns``."""
    pieces = csv_lines(rows.iterator(chunk_size=chunk_size), columns)
    content: Iterator[str] | AsyncIterator[str] = (
        _in_sync_thread(pieces) if isinstance(request, ASGIRequest) else pieces
    )
    response = StreamingHttpResponse(content, content_type="text/csv; charset=utf-8")
    stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
    response["Content-Disposition"] = f'attachment; filename="{name}-{stamp}.csv"'
    # Fleet data: no shared cache keeps a copy.
    response["Cache-Control"] = "private, no-store"
    return response

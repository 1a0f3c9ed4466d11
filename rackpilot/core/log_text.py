"""Logs as plain-text downloads, streamed: a build's or an action's lines can be millions."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any

from django.db.models import QuerySet
from django.http import StreamingHttpResponse

CHUNK_LINES = 2000


def lines_by_seq(lines: QuerySet[Any], *, chunk: int = CHUNK_LINES) -> Iterator[Any]:
    """Every line of ``lines`` in seq order, read ``chunk`` at a time by seq (a keyset, so
    each query is as cheap as the first however far the download has come)."""
    last = 0
    while True:
        batch = list(lines.filter(seq__gt=last).order_by("seq")[:chunk])
        if not batch:
            return
        yield from batch
        last = batch[-1].seq


def text_attachment(text: Iterable[str], filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(text, content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response

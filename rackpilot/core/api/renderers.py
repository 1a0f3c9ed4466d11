"""The API's JSON: UTF-8 as usual, and ASCII escapes when the data holds text UTF-8 cannot
carry — a lone surrogate that a client sent and a validation message repeats back (a choice
field names the value it refused). Without this the answer to bad input was a 500."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rest_framework import renderers


class AsciiJSONRenderer(renderers.JSONRenderer):
    ensure_ascii = True


class JSONRenderer(renderers.JSONRenderer):
    def render(
        self,
        data: Any,
        accepted_media_type: str | None = None,
        renderer_context: Mapping[str, Any] | None = None,
    ) -> bytes:
        try:
            return super().render(data, accepted_media_type, renderer_context)
        except UnicodeEncodeError:
            # \ud800 written as an escape is valid JSON; clients decode it as they sent it.
            return AsciiJSONRenderer().render(data, accepted_media_type, renderer_context)

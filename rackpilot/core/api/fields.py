"""Serializer fields shared by every app's API."""

from __future__ import annotations

from typing import Any

from rest_framework import serializers


class NameRelatedField(serializers.SlugRelatedField):
    """An object named by a unique text field (a template's name, a machine's hostname).

    A name with a NUL character is refused as such: DRF's own text fields do, but a related
    field would look it up, and PostgreSQL answers a NUL in a query with an error.
    """

    default_error_messages = {"null_characters": "Null characters are not allowed."}

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, str) and "\x00" in data:
            self.fail("null_characters")
        return super().to_internal_value(data)

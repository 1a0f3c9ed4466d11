"""Admin pages that leave secret fields out for users without ``view_secrets``.

The fields are removed from the page and its form alike, so saving the rest of a machine
leaves its secrets as they are; the same rule as the API and the dashboard.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from rackpilot.core.secrets import can_view_secrets


class SecretFieldsAdminMixin:
    secret_fields: Sequence[str] = ()

    def _hidden(self, request: HttpRequest) -> set[str]:
        return set() if can_view_secrets(request.user) else set(self.secret_fields)

    def get_exclude(self, request: HttpRequest, obj: Any = None) -> Any:
        excluded = list(super().get_exclude(request, obj) or ())  # type: ignore[misc]
        return [*excluded, *sorted(self._hidden(request))]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        hidden = self._hidden(request)
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return [name for name in fields if name not in hidden]

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        hidden = self._hidden(request)
        return [name for name in super().get_fields(request, obj) if name not in hidden]  # type: ignore[misc]

    def get_fieldsets(self, request: HttpRequest, obj: Any = None) -> Any:
        hidden = self._hidden(request)
        fieldsets = super().get_fieldsets(request, obj)  # type: ignore[misc]
        kept = []
        for title, options in fieldsets:
            fields = [name for name in options.get("fields", ()) if name not in hidden]
            if fields:
                kept.append((title, {**options, "fields": fields}))
        return kept


__all__ = ["SecretFieldsAdminMixin", "admin"]

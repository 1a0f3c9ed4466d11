from typing import Any

# knox's own admin is imported first so that the one below replaces it: that one shows an
# issued key in a message and lets the digest be edited.
import knox.admin  # noqa: F401
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone
from knox.models import AuthToken

from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from rackpilot.core.tokens import api_token_id, api_token_revoke


@admin.register(Event)
class EventAdmin(admin.ModelAdmin):
    """The audit log: viewable and searchable, never added to, changed or deleted here."""

    list_display = ["timestamp", "actor_kind", "actor_name", "verb", "object_repr", "machine"]
    list_filter = ["actor_kind", "verb"]
    search_fields = ["actor_name", "verb", "object_repr", "message", "request_id"]
    date_hierarchy = "timestamp"
    list_select_related = ["machine"]
    readonly_fields = [f.name for f in Event._meta.fields]

    def has_add_permission(self, request) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None) -> bool:  # type: ignore[no-untyped-def]
        # The audit log is append-only; retention is a job for a service, not a click.
        return False


admin.site.unregister(AuthToken)


@admin.register(AuthToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """REST API tokens: listed and revoked here, issued with ``manage.py create_api_token``.

    Only a digest is stored, so no page can show a key; the digest and the key's first
    characters (knox's lookup column) are left out of every page as well. Deleting a token
    revokes it through the service, which records the event.
    """

    list_display = ["token_id", "user", "created", "expiry", "expired"]
    list_select_related = ["user"]
    search_fields = ["user__username", "^digest"]
    ordering = ["-created"]
    fields = ["token_id", "user", "created", "expiry", "expired"]
    readonly_fields = ["token_id", "user", "created", "expiry", "expired"]

    @admin.display(description="token id")
    def token_id(self, obj: AuthToken) -> str:
        return api_token_id(obj)

    @admin.display(boolean=True)
    def expired(self, obj: AuthToken) -> bool:
        return obj.expiry is not None and obj.expiry <= timezone.now()

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Issuing shows the key once, on the command line; never on a page.
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def delete_model(self, request: HttpRequest, obj: AuthToken) -> None:
        api_token_revoke(token=obj, actor=Actor.for_user(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[AuthToken]) -> None:
        actor = Actor.for_user(request.user)
        for token in queryset.select_related("user"):
            api_token_revoke(token=token, actor=actor)

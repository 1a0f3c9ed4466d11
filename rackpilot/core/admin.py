from django.contrib import admin

from rackpilot.core.models import Event


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

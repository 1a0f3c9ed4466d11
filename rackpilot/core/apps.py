from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _admin_holds_every_permission(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """The admin role is every permission by definition: permissions a later migrate creates
    (a new model, a new app) join it. The other roles change only by migration."""
    from django.contrib.auth.models import Group, Permission

    from rackpilot.core.access import ADMIN

    group = Group.objects.using(using).filter(name=ADMIN).first()
    if group is None:  # before core's roles migration ran (or after it was reversed)
        return
    missing = Permission.objects.using(using).exclude(group=group)
    group.permissions.add(*missing)


class CoreConfig(AppConfig):
    name = "rackpilot.core"
    label = "core"
    verbose_name = "Rackpilot core"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Connected after django.contrib.auth's own handler (auth is earlier in INSTALLED_APPS),
        # so each app's new permissions exist by the time this runs for it.
        post_migrate.connect(_admin_holds_every_permission, dispatch_uid="rackpilot-admin-role")

from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "rackpilot.core"
    label = "core"
    verbose_name = "Rackpilot core"
    default_auto_field = "django.db.models.BigAutoField"

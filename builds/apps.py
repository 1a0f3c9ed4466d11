from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    verbose_name = "Hook builds"
    default_auto_field = "django.db.models.BigAutoField"

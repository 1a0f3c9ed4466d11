from django.apps import AppConfig


class NetbootConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "netboot"
    verbose_name = "Netboot"

from django.apps import AppConfig


class NetbootConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "netboot"
    verbose_name = "Netboot"

    def ready(self) -> None:
        from netboot.discovery import machine_discover
        from workflows.agent_protocol.dispatch import register_enrolment

        register_enrolment(machine_discover)

from django.apps import AppConfig


class TinkerbellConfig(AppConfig):
    name = "tinkerbell"
    verbose_name = "Tinkerbell compatibility"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tinkerbell.template_data import template_data_for_machine
        from workflows.rendering import register_template_data

        register_template_data(template_data_for_machine)

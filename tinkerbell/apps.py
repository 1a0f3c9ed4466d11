from django.apps import AppConfig


class TinkerbellConfig(AppConfig):
    name = "tinkerbell"
    verbose_name = "Tinkerbell compatibility"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from tinkerbell.template_data import template_data_for_machine
        from tinkerbell.template_functions import TINKERBELL_FUNCTIONS
        from workflows.rendering import register_template_data, register_template_functions

        register_template_data(template_data_for_machine)
        register_template_functions(TINKERBELL_FUNCTIONS)

from django.apps import AppConfig


class TinkerbellConfig(AppConfig):
    name = "tinkerbell"
    verbose_name = "Tinkerbell compatibility"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inventory.metadata_keys import register_bookkeeping_key
        from netboot.services import register_kernel_args
        from tinkerbell.formats.documents import RESERVED_KEY
        from tinkerbell.formats.workflow_kinds import worker_machines
        from tinkerbell.hook import hook_kernel_args
        from tinkerbell.template_data import sample_template_data, template_data_for_machine
        from tinkerbell.template_functions import TINKERBELL_FUNCTIONS
        from workflows.preview import register_sample_template_data
        from workflows.rendering import register_template_data, register_template_functions
        from workflows.services.planning import register_worker_ids

        register_bookkeeping_key(RESERVED_KEY)
        register_kernel_args(hook_kernel_args)
        register_template_data(template_data_for_machine)
        register_sample_template_data(sample_template_data)
        register_template_functions(TINKERBELL_FUNCTIONS)
        register_worker_ids(worker_machines)

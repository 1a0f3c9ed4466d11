from django.apps import AppConfig


class WorkflowsConfig(AppConfig):
    name = "workflows"
    verbose_name = "Workflows"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inventory.power.services import register_job_listener
        from inventory.services import register_machine_retire_hook
        from rackpilot.core.bootstrap import register_bootstrap_step
        from rackpilot.core.search import register_search_provider
        from workflows.demo import load_demo_workflows
        from workflows.demo_history import load_demo_history
        from workflows.metrics import register_metrics
        from workflows.overview import register_sections
        from workflows.search import search_templates, search_workflows
        from workflows.services.boot_power import on_power_job_ended
        from workflows.services.retire import machine_retire_workflows

        register_metrics()
        register_machine_retire_hook(machine_retire_workflows)
        register_job_listener(on_power_job_ended)
        # After the demo fleet (10) and the Hook recipes (20): it runs workflows on the fleet.
        register_bootstrap_step(order=30, name="demo workflows", run=load_demo_workflows)
        # After the demo workflows: the history runs on the machines they left ready.
        register_bootstrap_step(order=35, name="demo history", run=load_demo_history)
        register_search_provider(
            name="workflows", permission="workflows.view_workflow", search=search_workflows
        )
        register_search_provider(
            name="templates", permission="workflows.view_template", search=search_templates
        )
        register_sections()

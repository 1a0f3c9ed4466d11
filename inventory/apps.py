from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inventory.bootstrap import load_demo_fleet
        from inventory.metrics import register_metrics
        from inventory.overview import register_sections
        from inventory.search import search_machines, search_racks
        from rackpilot.core.bootstrap import register_bootstrap_step
        from rackpilot.core.search import register_search_provider

        register_metrics()
        register_sections()
        register_bootstrap_step(order=10, name="demo fleet", run=load_demo_fleet)
        register_search_provider(
            name="machines", permission="inventory.view_machine", search=search_machines
        )
        register_search_provider(
            name="racks", permission="inventory.view_rack", search=search_racks
        )

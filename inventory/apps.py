from django.apps import AppConfig


class InventoryConfig(AppConfig):
    name = "inventory"
    verbose_name = "Inventory"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from inventory.bootstrap import load_demo_fleet
        from inventory.metrics import InventoryCollector
        from rackpilot.core.bootstrap import register_bootstrap_step
        from rackpilot.core.metrics import REGISTRY

        REGISTRY.register(InventoryCollector())
        register_bootstrap_step(order=10, name="demo fleet", run=load_demo_fleet)

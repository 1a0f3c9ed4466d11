from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    verbose_name = "Hook builds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from builds.hook.recipes import install_shipped_recipes
        from rackpilot.core.bootstrap import register_bootstrap_step

        register_bootstrap_step(order=20, name="hook recipes", run=install_shipped_recipes)

from django.apps import AppConfig


class BuildsConfig(AppConfig):
    name = "builds"
    verbose_name = "Hook builds"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from builds.demo_history import load_demo_builds
        from builds.hook.recipes import install_shipped_recipes
        from builds.metrics import register_metrics
        from builds.overview import register_sections
        from builds.search import search_builds, search_recipes
        from rackpilot.core.bootstrap import register_bootstrap_step
        from rackpilot.core.search import register_search_provider

        register_metrics()
        register_bootstrap_step(order=20, name="hook recipes", run=install_shipped_recipes)
        register_bootstrap_step(order=25, name="demo builds", run=load_demo_builds)
        register_search_provider(
            name="builds", permission="builds.view_build", search=search_builds
        )
        register_search_provider(
            name="recipes", permission="builds.view_buildrecipe", search=search_recipes
        )
        register_sections()

"""The three roles as groups: viewer, operator, admin (rackpilot/core/access.py says what each
holds). Permissions are created here first: Django only creates them after the whole migrate,
and a fresh database would otherwise get empty groups."""

from django.contrib.auth.management import create_permissions
from django.db import migrations

from rackpilot.core.access import ROLES, create_role_groups


def create_roles(apps, schema_editor):
    for app_config in apps.get_app_configs():
        app_config.models_module = True
        create_permissions(app_config, apps=apps, verbosity=0)
        app_config.models_module = None
    create_role_groups(apps.get_model("auth", "Group"), apps.get_model("auth", "Permission"))


def remove_roles(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name__in=ROLES).delete()


class Migration(migrations.Migration):
    dependencies = [
        ("core", "0001_initial"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("inventory", "0004_command_permissions"),
        ("workflows", "0005_command_permissions"),
        ("builds", "0003_command_permissions"),
        ("netboot", "0001_discovery"),
    ]

    operations = [migrations.RunPython(create_roles, remove_roles)]

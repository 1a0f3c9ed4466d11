"""``manage.py bootstrap``: the demo fleet on an empty inventory and the first admin user."""

from __future__ import annotations

import io
import re
from collections import Counter

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import transaction
from django.test import Client
from knox.models import AuthToken
from rest_framework.test import APIClient

from inventory import services
from inventory.demo import FAILED, DemoFleetError, demo_fleet_load
from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site
from rackpilot.core.models import Event
from tests.factories import MachineFactory, SiteFactory, UserFactory

pytestmark = pytest.mark.django_db

PASSWORD = re.compile(r"Password:\s+(\S+)")
TOKEN = re.compile(r"API token:\s+(\w+)")


def bootstrap(*args: str) -> str:
    out = io.StringIO()
    call_command("bootstrap", *args, stdout=out)
    return out.getvalue()


def inventory_counts() -> dict[str, int]:
    User = get_user_model()
    return {
        "sites": Site.objects.count(),
        "racks": Rack.objects.count(),
        "machines": Machine.objects.count(),
        "interfaces": NetworkInterface.objects.count(),
        "users": User.objects.count(),
        "tokens": AuthToken.objects.count(),
        "events": Event.objects.count(),
    }


def test_bootstrap_on_an_empty_database_loads_the_demo_fleet(actor):
    out = bootstrap()

    assert "Loaded the demo fleet: 2 sites, 4 racks, 40 machines" in out
    assert Site.objects.count() == 2
    assert Rack.objects.count() == 4
    assert Machine.objects.count() == 40
    assert Machine.objects.filter(rack__isnull=True).count() == 4
    # Every racked machine passes the placement check again (the service raises on overlap).
    for machine in Machine.objects.filter(rack__isnull=False).select_related("rack"):
        services.machine_update(
            machine=machine, actor=actor, rack=machine.rack, position=machine.position
        )
    # And, counted unit by unit, no two machines share a rack unit.
    occupied = Counter(
        (machine.rack_id, unit)
        for machine in Machine.objects.filter(rack__isnull=False)
        for unit in range(machine.position, machine.position + machine.u_height)
    )
    assert max(occupied.values()) == 1
    assert all(unit <= 40 for _, unit in occupied)


def test_bootstrap_creates_an_admin_whose_printed_password_and_token_work():
    out = bootstrap()

    password = PASSWORD.search(out).group(1)  # type: ignore[union-attr]
    token = TOKEN.search(out).group(1)  # type: ignore[union-attr]
    assert "http://127.0.0.1:8000/" in out
    admin = get_user_model().objects.get(username="admin")
    assert admin.is_superuser and admin.is_staff
    browser = Client()
    login = browser.post("/admin/login/?next=/admin/", {"username": "admin", "password": password})
    assert login.status_code == 302
    assert login.url == "/admin/"
    assert browser.get("/admin/").status_code == 200
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert api.get("/api/v1/machines/").status_code == 200
    assert Event.objects.filter(verb="user.created", object_repr="admin").exists()


def test_a_second_run_creates_nothing_and_prints_no_password():
    first = bootstrap()
    password = PASSWORD.search(first).group(1)  # type: ignore[union-attr]
    before = inventory_counts()

    second = bootstrap()

    assert inventory_counts() == before
    assert "Password" not in second
    assert password not in second
    assert "API token" not in second
    assert "Admin user already exists (admin)" in second
    assert "Inventory has 40 machine(s); demo fleet not loaded." in second


def test_no_demo_only_creates_the_admin():
    out = bootstrap("--no-demo", "--admin-username", "ops")

    assert not Machine.objects.exists()
    assert get_user_model().objects.get(username="ops").is_superuser
    assert PASSWORD.search(out)


def test_an_existing_superuser_is_kept_and_no_admin_is_added():
    UserFactory(username="root", is_superuser=True, is_staff=True)

    out = bootstrap("--no-demo")

    assert "Admin user already exists (root)" in out
    assert not get_user_model().objects.filter(username="admin").exists()
    assert "Password" not in out


def test_a_plain_user_named_admin_is_not_promoted_silently():
    UserFactory(username="admin")

    with pytest.raises(CommandError, match="exists but is not a superuser"):
        bootstrap("--no-demo")
    assert not get_user_model().objects.filter(is_superuser=True).exists()


def test_the_printed_url_follows_host_and_port(monkeypatch):
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9000")

    out = bootstrap("--no-demo")

    assert "URL:        http://127.0.0.1:9000/" in out


def test_machines_already_there_keep_the_demo_out():
    MachineFactory(hostname="real-01")

    out = bootstrap()

    assert Machine.objects.count() == 1
    assert "demo fleet not loaded" in out


def test_sites_without_machines_keep_the_demo_out_too():
    SiteFactory(slug="fra1")

    out = bootstrap("--admin-username", "ops")

    assert "Demo fleet not loaded: The inventory is not empty" in out
    assert Site.objects.count() == 1


# --- the demo fleet itself -----------------------------------------------------------------


def test_the_demo_fleet_is_realistic_and_complete(actor):
    loaded = demo_fleet_load(actor=actor)

    assert loaded["states"] == {
        "discovered": 2,
        "ready": 27,
        "provisioned": 8,
        "failed": 2,
        "retired": 1,
    }
    for machine in Machine.objects.prefetch_related("interfaces", "disks", "tags"):
        interfaces = list(machine.interfaces.all())
        assert 1 <= len(interfaces) <= 2
        assert [nic.mac[:9] for nic in interfaces] == ["52:54:00:"] * len(interfaces)
        assert sum(nic.is_boot for nic in interfaces) == 1
        assert 1 <= machine.disks.count() <= 4
        assert machine.bmc.get_password()
        if machine.state != Machine.State.DISCOVERED:
            assert machine.metadata["instance"]["hostname"] == machine.hostname
            assert machine.metadata["facility"]["facility_code"] in {"fra1", "ams2"}
            assert machine.metadata["instance"]["operating_system"]["slug"]
            assert machine.tags.exists()
    assert set(BMC.objects.values_list("protocol", flat=True)) == {"redfish", "ipmi"}
    assert Disk.objects.filter(size_bytes__gte=16 * 10**12).exists()
    assert {"gpu", "storage", "k8s-worker"} <= set(
        Machine.objects.values_list("tags__slug", flat=True)
    )


def test_demo_states_are_reached_through_the_lifecycle(actor):
    demo_fleet_load(actor=actor)

    failed = Machine.objects.filter(state="failed").first()
    assert failed is not None
    steps = list(
        Event.objects.filter(machine=failed, verb="machine.state_changed")
        .order_by("id")
        .values_list("changes", flat=True)
    )
    assert steps == [{"state": ["ready", "provisioning"]}, {"state": ["provisioning", "failed"]}]
    reason = Event.objects.filter(machine=failed, verb="machine.state_changed").latest("id")
    assert reason.message == FAILED[failed.hostname]


def test_the_demo_fleet_is_the_same_on_every_load(actor):
    def fleet_fingerprint() -> list[tuple[object, ...]]:
        return list(
            Machine.objects.order_by("hostname", "interfaces__mac").values_list(
                "hostname",
                "rack__name",
                "position",
                "serial_number",
                "state",
                "interfaces__mac",
                "bmc__address",
            )
        )

    fingerprints = []
    for _ in range(2):
        with transaction.atomic():
            demo_fleet_load(actor=actor)
            fingerprints.append(fleet_fingerprint())
            transaction.set_rollback(True)
    assert not Machine.objects.exists()
    assert fingerprints[0] == fingerprints[1]


def test_the_demo_fleet_refuses_a_non_empty_inventory(actor):
    MachineFactory()

    with pytest.raises(DemoFleetError):
        demo_fleet_load(actor=actor)


def test_bootstrap_installs_the_shipped_hook_recipes_once_and_keeps_edits():
    from builds.builder.recipe import parse_recipe
    from builds.models import BuildRecipe

    output = bootstrap("--no-demo")

    recipes = {recipe.name: recipe for recipe in BuildRecipe.objects.all()}
    assert set(recipes) == {"rackpilot-hook-x86_64", "rackpilot-hook-aarch64"}
    assert "build_hook_image --registry" in output
    x86 = recipes["rackpilot-hook-x86_64"]
    assert x86.arches == ["x86_64"]
    assert parse_recipe(x86.config).init == ["127.0.0.1:5000/rackpilot/hook-base:x86_64"]
    arm = parse_recipe(recipes["rackpilot-hook-aarch64"].config)
    assert arm.kernel.image == "127.0.0.1:5000/rackpilot/hook-kernel:aarch64"
    # An operator's edit survives the next bootstrap (every make run).
    BuildRecipe.objects.filter(pk=x86.pk).update(description="ours")
    assert "Hook recipes" not in bootstrap("--no-demo")
    assert BuildRecipe.objects.get(pk=x86.pk).description == "ours"

"""Admin: writes go through the services (validation, events, the lifecycle)."""

from __future__ import annotations

import pytest
from django.urls import reverse

from builds.models import Build, BuildRecipe
from rackpilot.core.models import Event
from tests.builds_app.conftest import RECIPE, queue_one, succeed
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client):
    user = UserFactory(username="root", is_staff=True, is_superuser=True)
    client.force_login(user)
    return client


def test_recipe_added_in_the_admin_is_validated_and_recorded(admin_client):
    url = reverse("admin:builds_buildrecipe_add")
    bad = admin_client.post(
        url, {"name": "bad", "config": "kernel: [", "arches": '["x86_64"]', "description": ""}
    )
    assert bad.status_code == 200
    assert "config" in bad.context["adminform"].form.errors
    good = admin_client.post(
        url, {"name": "good", "config": RECIPE, "arches": '["x86_64"]', "description": ""}
    )
    assert good.status_code == 302
    assert BuildRecipe.objects.filter(name="good").exists()
    assert Event.objects.filter(verb="recipe.created").exists()


def test_admin_actions_cancel_and_make_default(admin_client, recipe):
    queued = queue_one(recipe)
    url = reverse("admin:builds_build_changelist")
    admin_client.post(url, {"action": "cancel", "_selected_action": [queued.pk]})
    assert Build.objects.get(pk=queued.pk).state == "cancelled"

    first = succeed(queue_one(recipe))
    second = succeed(queue_one(recipe))
    admin_client.post(url, {"action": "make_default", "_selected_action": [second.pk]})
    assert Build.objects.get(pk=second.pk).is_default
    assert not Build.objects.get(pk=first.pk).is_default

    refused = admin_client.post(
        url, {"action": "cancel", "_selected_action": [second.pk]}, follow=True
    )
    assert any("cannot go from" in str(m) for m in refused.context["messages"])


def test_recipe_admin_queues_builds(admin_client, recipe, enqueued):
    url = reverse("admin:builds_buildrecipe_changelist")
    admin_client.post(url, {"action": "queue_builds", "_selected_action": [recipe.pk]})
    assert sorted(Build.objects.values_list("arch", flat=True)) == ["aarch64", "x86_64"]

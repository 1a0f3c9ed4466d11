"""Dashboard pages: lists with filters and flat query counts, the recipe editor's errors at
their line, the build page and its buttons."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builds.models import Build, BuildRecipe
from tests.builds_app.conftest import RECIPE, queue_one, succeed

pytestmark = pytest.mark.django_db


@pytest.fixture
def browser(client, builder_user):
    client.force_login(builder_user)
    return client


def test_pages_need_a_signed_in_user(client, recipe):
    assert client.get("/builds/").status_code == 302
    assert client.get(f"/recipes/{recipe.pk}/").status_code == 302


def test_recipe_pages(browser, recipe):
    listing = browser.get("/recipes/")
    assert listing.status_code == 200
    assert b"hook" in listing.content
    detail = browser.get(f"/recipes/{recipe.pk}/")
    assert detail.status_code == 200
    assert b'id="L1"' in detail.content


def test_recipe_editor_shows_config_errors_at_their_line(browser, recipe):
    broken = RECIPE + "services:\n  - name: [unclosed\n"
    answer = browser.post(
        f"/recipes/{recipe.pk}/edit/",
        {"name": "hook", "arches": ["x86_64"], "description": "", "config": broken},
    )
    assert answer.status_code == 400
    problems = answer.context["problems"]
    assert problems and problems[0].line >= 9
    assert f'href="#L{problems[0].line}"'.encode() in answer.content
    assert b"rp-line-error" in answer.content
    assert BuildRecipe.objects.get(pk=recipe.pk).config == RECIPE


def test_recipe_create_and_build_buttons(browser, enqueued):
    created = browser.post(
        "/recipes/new/",
        {"name": "new", "arches": ["x86_64", "aarch64"], "description": "", "config": RECIPE},
    )
    assert created.status_code == 302
    recipe = BuildRecipe.objects.get(name="new")
    queued = browser.post(f"/recipes/{recipe.pk}/build/", {"arch": "aarch64"})
    build = Build.objects.get(recipe=recipe)
    assert queued.status_code == 302
    assert queued["Location"] == f"/builds/{build.pk}/"


def test_build_detail_buttons(browser, recipe):
    build = queue_one(recipe)
    page = browser.get(f"/builds/{build.pk}/")
    assert page.status_code == 200
    assert b"cancel-button" in page.content
    browser.post(f"/builds/{build.pk}/cancel/")
    assert Build.objects.get(pk=build.pk).state == "cancelled"
    refused = browser.post(f"/builds/{build.pk}/cancel/", follow=True)
    assert b"could not be cancelled" in refused.content

    first = succeed(queue_one(recipe))
    second = succeed(queue_one(recipe))
    page = browser.get(f"/builds/{second.pk}/")
    assert b"Make default" in page.content
    assert b"sha256 " in page.content
    assert b"initramfs-x86_64" in page.content
    browser.post(f"/builds/{second.pk}/default/")
    assert Build.objects.get(pk=second.pk).is_default
    assert not Build.objects.get(pk=first.pk).is_default


def test_build_list_filters_and_query_count(browser, recipe):
    def count(query: str = "") -> tuple[int, bytes]:
        with CaptureQueriesContext(connection) as ctx:
            answer = browser.get(f"/builds/{query}")
            assert answer.status_code == 200
        return len(ctx.captured_queries), answer.content

    succeed(queue_one(recipe))
    one, _ = count()
    for _ in range(10):
        succeed(queue_one(recipe))
        queue_one(recipe, "aarch64")
    many, content = count()
    assert many == one
    _, filtered = count("?arch=aarch64&state=queued")
    assert filtered.count(b"data-build-id") == 10
    assert content.count(b"data-build-id") == 21

"""REST API for recipes and builds: CRUD, validation with line numbers, commands, 409s,
filters and query counts."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from builds.models import Build, BuildRecipe
from builds.services import lifecycle
from tests.builds_app.conftest import RECIPE, SYSTEM, queue_one, succeed

pytestmark = pytest.mark.django_db


def test_recipe_crud(api):
    created = api.post("/api/v1/recipes/", {"name": "hook", "config": RECIPE, "arches": ["x86_64"]})
    assert created.status_code == 201, created.json()
    assert created.json()["config"] == RECIPE  # verbatim
    pk = created.json()["id"]
    patched = api.patch(f"/api/v1/recipes/{pk}/", {"arches": ["x86_64", "aarch64"]})
    assert patched.json()["arches"] == ["x86_64", "aarch64"]
    assert api.get("/api/v1/recipes/?q=ho").json()["count"] == 1
    assert api.delete(f"/api/v1/recipes/{pk}/").status_code == 204
    assert not BuildRecipe.objects.exists()


def test_recipe_config_errors_name_line_and_column(api):
    broken = RECIPE + "services:\n  - name: [unclosed\n"
    answer = api.post("/api/v1/recipes/", {"name": "bad", "config": broken, "arches": ["x86_64"]})
    assert answer.status_code == 400
    (message,) = answer.json()["config"]
    line, column, _text = message.split(":", 2)
    assert int(line) >= 9 and int(column) >= 1
    assert not BuildRecipe.objects.exists()


@pytest.mark.parametrize(
    ("tail", "expected"),
    [
        ("servics:\n  - name: x\n", "9:1: recipe: unknown key 'servics'"),
        ("onboot:\n  - name: x\n    image: 'bad ref!'\n", "11:12: onboot 'x' image:"),
    ],
)
def test_recipe_problems_from_the_builder_keep_line_and_column(api, tail, expected):
    answer = api.post(
        "/api/v1/recipes/", {"name": "bad", "config": RECIPE + tail, "arches": ["x86_64"]}
    )
    assert answer.status_code == 400
    assert answer.json()["config"][0].startswith(expected)


def test_a_recipe_that_builds_with_warnings_says_so_in_the_api_and_on_its_page(api, admin_client):
    config = RECIPE + "trust:\n  org: [linuxkit]\n"
    created = api.post("/api/v1/recipes/", {"name": "hook", "config": config, "arches": ["x86_64"]})

    assert created.status_code == 201, created.json()
    (warning,) = created.json()["warnings"]
    assert warning.startswith("9:1: trust: ignored")
    page = admin_client.get(f"/recipes/{created.json()['id']}/")
    assert warning in page.content.decode()
    assert api.get("/api/v1/recipes/?name=hook").json()["results"][0]["warnings"] == [warning]


def test_recipe_arches_must_be_known(api):
    answer = api.post("/api/v1/recipes/", {"name": "x", "config": RECIPE, "arches": ["riscv"]})
    assert answer.status_code == 400
    assert "arches" in answer.json()


def test_recipe_with_builds_cannot_be_deleted(api, recipe):
    queue_one(recipe)
    answer = api.delete(f"/api/v1/recipes/{recipe.pk}/")
    assert answer.status_code == 400
    assert "still used" in str(answer.json())


def test_queue_cancel_and_detail(api, recipe, enqueued):
    answer = api.post("/api/v1/builds/", {"recipe": "hook"})
    assert answer.status_code == 201
    assert [b["arch"] for b in answer.json()] == ["x86_64", "aarch64"]
    one = api.post("/api/v1/builds/", {"recipe": "hook", "arch": "aarch64"})
    assert [b["arch"] for b in one.json()] == ["aarch64"]
    pk = one.json()[0]["id"]
    cancelled = api.post(f"/api/v1/builds/{pk}/cancel/")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    detail = api.get(f"/api/v1/builds/{pk}/").json()
    assert detail["config"] == RECIPE


def test_refused_transitions_answer_409(api, recipe):
    build = succeed(queue_one(recipe))
    answer = api.post(f"/api/v1/builds/{build.pk}/cancel/")
    assert answer.status_code == 409
    body = answer.json()
    assert body["code"] == "build_state_violation"
    assert (body["current"], body["requested"]) == ("success", "cancelled")


def test_set_default_moves_the_default(api, recipe):
    first = succeed(queue_one(recipe))
    second = succeed(queue_one(recipe))
    answer = api.post(f"/api/v1/builds/{second.pk}/set-default/")
    assert answer.status_code == 200
    assert answer.json()["is_default"]
    assert not Build.objects.get(pk=first.pk).is_default
    running = queue_one(recipe)
    refused = api.post(f"/api/v1/builds/{running.pk}/set-default/")
    assert refused.status_code == 400


def test_log_endpoint_pages_by_seq(api, recipe):
    build = queue_one(recipe)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_log(build_id=build.pk, lines=[f"l{n}" for n in range(10)])
    page = api.get(f"/api/v1/builds/{build.pk}/log/?after_seq=7").json()
    assert [(line["seq"], line["text"]) for line in page] == [(8, "l7"), (9, "l8"), (10, "l9")]


def test_log_text_download_streams_every_line_in_order(api, recipe, monkeypatch):
    # A small chunk so the download crosses several keyset pages.
    monkeypatch.setattr("rackpilot.core.log_text.CHUNK_LINES", 3)
    monkeypatch.setattr("rackpilot.core.log_text.lines_by_seq.__kwdefaults__", {"chunk": 3})
    build = queue_one(recipe)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    lifecycle.build_log(build_id=build.pk, lines=[f"line {n}" for n in range(8)])

    response = api.get(f"/api/v1/builds/{build.pk}/log.txt")

    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    assert response["Content-Disposition"] == f'attachment; filename="build-{build.pk}.log"'
    rows = b"".join(response.streaming_content).decode().splitlines()
    assert [row.split(" ", 1)[1] for row in rows] == [f"line {n}" for n in range(8)]
    assert all(row[:4].isdigit() and "T" in row.split(" ", 1)[0] for row in rows)


def test_viewers_can_read_but_not_queue(viewer, recipe):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(viewer)
    assert client.get("/api/v1/builds/").status_code == 200
    assert client.post("/api/v1/builds/", {"recipe": "hook"}).status_code == 403


def test_build_filters(api, recipe):
    succeed(queue_one(recipe))
    queue_one(recipe, "aarch64")
    ids = lambda q: [b["arch"] for b in api.get(f"/api/v1/builds/?{q}").json()["results"]]  # noqa: E731
    assert ids("state=success") == ["x86_64"]
    assert ids("arch=aarch64") == ["aarch64"]
    assert ids("is_default=true") == ["x86_64"]
    assert ids("recipe=nope") == []


def test_build_list_query_count_is_constant(api, recipe):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/builds/?page_size=100").status_code == 200
        return len(ctx.captured_queries)

    succeed(queue_one(recipe))
    one = count()
    for _ in range(12):
        succeed(queue_one(recipe))
        queue_one(recipe, "aarch64")
    assert count() == one


def test_recipe_list_query_count_is_constant(api, recipe):
    def count() -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert api.get("/api/v1/recipes/").status_code == 200
        return len(ctx.captured_queries)

    one = count()
    for n in range(10):
        BuildRecipe.objects.create(name=f"r{n}", config=RECIPE, arches=["x86_64"])
    assert count() == one


def test_schema_lists_build_endpoints(api):
    paths = api.get("/api/v1/schema/?format=json").json()["paths"]
    for path in [
        "/api/v1/recipes/",
        "/api/v1/builds/",
        "/api/v1/builds/{id}/cancel/",
        "/api/v1/builds/{id}/set-default/",
        "/api/v1/builds/{id}/artifacts/{name}",
    ]:
        assert path in paths, path

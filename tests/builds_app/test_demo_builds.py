"""The demo builds ``bootstrap`` records (builds/demo_history.py), and the rule that keeps a
build without a kernel and an initramfs from becoming the one netboot serves."""

from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.utils import timezone

from builds.demo_history import load_demo_builds
from builds.hook.recipes import install_shipped_recipes
from builds.models import Build, BuildLogLine
from builds.services import lifecycle
from builds.states import BuildState
from rackpilot.core.actors import Actor
from rackpilot.core.models import Event
from tests.builds_app.conftest import SYSTEM, queue_one, succeed

pytestmark = pytest.mark.django_db
S = BuildState


def _load(captured) -> str | None:
    install_shipped_recipes(SYSTEM, True)
    with captured(execute=True):
        return load_demo_builds(SYSTEM, True)


def test_the_demo_records_four_builds_back_in_time_through_the_lifecycle(
    django_capture_on_commit_callbacks, enqueued
):
    out = _load(django_capture_on_commit_callbacks)

    assert out is not None and out.startswith("Recorded 4 demo builds")
    builds = list(Build.objects.order_by("created_at").select_related("recipe"))
    assert [(b.recipe.name, b.state) for b in builds] == [
        ("rackpilot-hook-x86_64", S.FAILED),
        ("rackpilot-hook-x86_64", S.SUCCESS),
        ("rackpilot-hook-aarch64", S.CANCELLED),
        ("rackpilot-hook-x86_64", S.SUCCESS),
    ]
    assert enqueued == []  # nothing handed to Celery: a worker would try to run them
    now = timezone.now()
    for build in builds:
        assert build.created_at < build.started_at <= build.finished_at < now - timedelta(days=2)
        assert not build.is_default and not build.artifacts.exists()
        lines = list(BuildLogLine.objects.filter(build=build).order_by("seq"))
        assert [line.seq for line in lines] == list(range(1, build.log_seq + 1))
        stamps = [line.timestamp for line in lines]
        assert stamps == sorted(stamps) and build.started_at <= stamps[0]
        assert stamps[-1] <= build.finished_at
    failed, first, cancelled, cached = builds
    assert "127.0.0.1:5000" in failed.error and "Connection refused" in failed.error
    assert failed.log_lines.last().text == f"build failed: {failed.error}"
    assert [step["name"] for step in first.steps] == [
        "pull images",
        "extract kernel",
        "write initramfs",
        "checksums",
    ]
    assert first.downloaded_bytes > 0 and first.cache_hits == 0
    assert cached.downloaded_bytes == 0 and cached.cache_hits > 0
    assert "no files were written" in first.log_lines.last().text
    assert cancelled.error.startswith("cancelled")
    # every event of the four is the demo's and lies in the past with its build
    events = Event.objects.filter(content_type__model="build")
    assert set(events.values_list("actor_name", flat=True)) == {"demo"}
    assert events.filter(verb="build.cancel_requested").count() == 1
    assert not events.filter(timestamp__gt=now - timedelta(days=2)).exists()


def test_a_database_with_builds_and_no_demo_get_none(django_capture_on_commit_callbacks):
    assert load_demo_builds(SYSTEM, False) is None
    _load(django_capture_on_commit_callbacks)
    count = Build.objects.count()
    assert _load(django_capture_on_commit_callbacks) is None
    assert Build.objects.count() == count


def test_bootstrap_no_demo_records_no_build():
    call_command("bootstrap", "--no-demo", stdout=io.StringIO())
    assert not Build.objects.exists()


def test_a_build_without_kernel_and_initramfs_never_becomes_the_default(recipe, api):
    lone = queue_one(recipe)
    lifecycle.build_start(build_id=lone.pk, actor=SYSTEM)
    lone = lifecycle.build_finish(build_id=lone.pk, actor=SYSTEM, artifacts=[], steps=[])
    assert lone.state == S.SUCCESS and not lone.is_default  # first success, yet not the default

    with pytest.raises(ValidationError, match="no initramfs-x86_64 or vmlinuz-x86_64"):
        lifecycle.build_set_default(build=lone, actor=Actor.system("test"))
    answer = api.post(f"/api/v1/builds/{lone.pk}/set-default/")
    assert answer.status_code == 400
    assert "netboot would have nothing to serve" in str(answer.json())

    real = succeed(queue_one(recipe))
    assert real.is_default  # the first build with files is
    assert not Build.objects.get(pk=lone.pk).is_default


def test_the_page_of_a_build_without_files_says_why_and_offers_no_default(
    recipe, builder_user, client
):
    lone = queue_one(recipe)
    lifecycle.build_start(build_id=lone.pk, actor=SYSTEM)
    lifecycle.build_finish(build_id=lone.pk, actor=SYSTEM, artifacts=[], steps=[])
    client.force_login(builder_user)
    page = client.get(f"/builds/{lone.pk}/").content.decode()
    assert "this build wrote no files, so it cannot be the default" in page
    assert "Make default" not in page
    with_files = succeed(queue_one(recipe))
    other = succeed(queue_one(recipe))
    assert with_files.is_default
    assert "Make default" in client.get(f"/builds/{other.pk}/").content.decode()

"""The build lifecycle through its services: transitions, defaults, cancel, recovery, runner."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

import builds.builder
from builds.models import Build, BuildLogLine
from builds.services import lifecycle
from builds.services.lifecycle import enqueue_build as real_enqueue_build
from builds.services.runner import build_output_dir
from builds.states import BUILD_TRANSITIONS, BuildState, BuildStateViolation
from builds.tasks import recover_stale, run_build
from rackpilot.core.models import Event
from tests.builds_app.conftest import SYSTEM, queue_one, succeed, write_artifacts

pytestmark = pytest.mark.django_db
S = BuildState


def _in_state(recipe, state: str) -> Build:
    build = queue_one(recipe)
    if state == S.QUEUED:
        return build
    if state == S.SUCCESS:
        return succeed(build)
    if state == S.CANCELLED:
        return lifecycle.build_cancel(build=build, actor=SYSTEM)
    lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    if state == S.FAILED:
        return lifecycle.build_fail(build_id=build.pk, actor=SYSTEM, error="boom")
    return Build.objects.get(pk=build.pk)


def _move(build: Build, target: str) -> Build:
    if target == S.RUNNING:
        return lifecycle.build_start(build_id=build.pk, actor=SYSTEM)
    if target == S.SUCCESS:
        return lifecycle.build_finish(build_id=build.pk, actor=SYSTEM, artifacts=[], steps=[])
    return lifecycle.build_fail(build_id=build.pk, actor=SYSTEM, error="x", target=target)


ALL = [(src, dst) for src in S.values for dst in S.values if src != dst]


@pytest.mark.parametrize(("source", "target"), ALL)
def test_transition_table_is_enforced(recipe, source, target):
    build = _in_state(recipe, source)
    if target in BUILD_TRANSITIONS[source]:
        assert _move(build, target).state == target
        assert Build.objects.get(pk=build.pk).state == target
    else:
        with pytest.raises(BuildStateViolation):
            _move(build, target)
        assert Build.objects.get(pk=build.pk).state == source


def test_queue_makes_one_build_per_arch_and_enqueues_after_commit(
    recipe, enqueued, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        builds = lifecycle.build_queue(recipe=recipe, actor=SYSTEM)
    assert sorted(b.arch for b in builds) == ["aarch64", "x86_64"]
    assert all(b.state == S.QUEUED and b.config == recipe.config for b in builds)
    assert sorted(enqueued) == sorted((b.pk, b.celery_task_id) for b in builds)
    assert Event.objects.filter(verb="build.queued").count() == 2


def test_queue_refuses_an_arch_the_recipe_does_not_have(recipe):
    recipe.arches = ["x86_64"]
    recipe.save()
    with pytest.raises(ValidationError, match="aarch64"):
        lifecycle.build_queue(recipe=recipe, actor=SYSTEM, arch="aarch64")


def test_first_success_becomes_default_and_set_default_moves_it(recipe):
    first = succeed(queue_one(recipe))
    assert first.is_default
    second = succeed(queue_one(recipe))
    assert not second.is_default

    lifecycle.build_set_default(build=second, actor=SYSTEM)

    defaults = Build.objects.filter(arch="x86_64", is_default=True)
    assert list(defaults.values_list("pk", flat=True)) == [second.pk]
    other_arch = succeed(queue_one(recipe, "aarch64"))
    assert other_arch.is_default  # one default per arch, not one overall
    assert Event.objects.filter(verb="build.default_set").count() == 3


def test_only_a_successful_build_can_be_default(recipe):
    failed = _in_state(recipe, S.FAILED)
    with pytest.raises(ValidationError, match="only a successful build"):
        lifecycle.build_set_default(build=failed, actor=SYSTEM)


def test_database_refuses_two_defaults_per_arch(recipe):
    first = succeed(queue_one(recipe))
    second = succeed(queue_one(recipe))
    with pytest.raises(IntegrityError), transaction.atomic():
        Build.objects.filter(pk=second.pk).update(is_default=True)
    assert Build.objects.get(pk=first.pk).is_default


def test_cancel_a_queued_build_ends_it_at_once(recipe):
    build = queue_one(recipe)
    build = lifecycle.build_cancel(build=build, actor=SYSTEM)
    assert build.state == S.CANCELLED
    assert build.finished_at is not None
    # The task, when it comes, finds nothing to do.
    assert run_build.run(build.pk) == S.CANCELLED


def test_cancel_a_running_build_flags_the_task(recipe, fake_builder):
    build = queue_one(recipe)
    seen: list[bool] = []

    def slow_build(recipe_text, *, should_cancel, log, **kwargs):
        log("pulling")
        lifecycle.build_cancel(build=Build.objects.get(pk=build.pk), actor=SYSTEM)
        assert Build.objects.get(pk=build.pk).state == S.RUNNING  # still running until it stops
        seen.append(should_cancel())
        raise builds.builder.BuildCancelled("stopped between steps")

    fake_builder(slow_build)
    assert run_build.run(build.pk) == S.CANCELLED
    build.refresh_from_db()
    assert seen == [True]
    assert build.state == S.CANCELLED
    assert build.cancel_requested
    assert "stopped between steps" in build.error
    assert not build_output_dir(build.pk).exists()


def test_stale_running_build_is_failed_as_worker_lost(recipe):
    stale = _in_state(recipe, S.RUNNING)
    fresh = _in_state(recipe, S.RUNNING)
    Build.objects.filter(pk=stale.pk).update(heartbeat_at=timezone.now() - timedelta(minutes=10))
    assert recover_stale.run() == 1
    stale.refresh_from_db()
    fresh.refresh_from_db()
    assert stale.state == S.FAILED
    assert "worker lost" in stale.error
    assert fresh.state == S.RUNNING
    # A late progress report from the lost task changes nothing and tells it to stop.
    assert lifecycle.build_progress(build_id=stale.pk, percent=50, step="late") is False
    assert lifecycle.build_should_cancel(build_id=stale.pk)


def test_runner_success_stores_artifacts_steps_log_and_progress(recipe, fake_builder):
    build = queue_one(recipe)

    def fake(recipe_text, *, arch, out_dir, cache_dir, progress, log, should_cancel, **kw):
        assert recipe_text == recipe.config
        assert cache_dir.is_dir()
        progress(10, "pull")
        for n in range(1200):
            log(f"line {n}")
        progress(90, "initramfs")
        assert not should_cancel()
        files = write_artifacts(out_dir, arch)
        return SimpleNamespace(
            artifacts=files,
            steps=[SimpleNamespace(name="pull", seconds=1.25)],
            cache_hits=3,
            downloaded_bytes=1234,
        )

    fake_builder(fake)
    assert run_build.run(build.pk) == S.SUCCESS
    build = Build.objects.get(pk=build.pk)
    assert (build.progress, build.cache_hits, build.downloaded_bytes) == (100, 3, 1234)
    assert build.steps == [{"name": "pull", "seconds": 1.25}]
    assert build.is_default
    assert sorted(a.path for a in build.artifacts.all()) == [
        f"{build.pk}/initramfs-x86_64",
        f"{build.pk}/vmlinuz-x86_64",
    ]
    seqs = list(BuildLogLine.objects.filter(build=build).values_list("seq", flat=True))
    assert seqs == list(range(1, 1201))
    assert build.log_seq == 1200


def test_runner_failure_keeps_the_message_and_the_log(recipe, fake_builder):
    build = queue_one(recipe)

    def broken(recipe_text, *, log, **kwargs):
        log("resolving 127.0.0.1:5000/hook/kernel:6.1")
        raise builds.builder.BuildError("manifest unknown: hook/kernel:6.1")

    fake_builder(broken)
    assert run_build.run(build.pk) == S.FAILED
    build.refresh_from_db()
    assert build.error == "manifest unknown: hook/kernel:6.1"
    texts = list(build.log_lines.values_list("text", flat=True))
    assert texts == ["resolving 127.0.0.1:5000/hook/kernel:6.1", f"build failed: {build.error}"]


def test_runner_crash_in_the_builder_still_ends_the_build(recipe, fake_builder):
    build = queue_one(recipe)
    fake_builder(lambda *a, **k: 1 / 0)
    assert run_build.run(build.pk) == S.FAILED
    build.refresh_from_db()
    assert "ZeroDivisionError" in build.error


def test_a_redelivered_task_does_not_restart_a_running_build(recipe):
    build = _in_state(recipe, S.RUNNING)
    assert run_build.run(build.pk) == S.RUNNING


def test_a_result_that_cannot_be_stored_fails_the_build(recipe, fake_builder, tmp_path):
    build = queue_one(recipe)

    def elsewhere(recipe_text, *, arch, **kwargs):
        files = write_artifacts(tmp_path / "not-the-artifacts-dir", arch)
        return SimpleNamespace(artifacts=files, steps=[], cache_hits=0, downloaded_bytes=0)

    fake_builder(elsewhere)
    assert run_build.run(build.pk) == S.FAILED
    build.refresh_from_db()
    assert build.error.startswith("could not store the result")
    assert not build.artifacts.exists()


def test_enqueue_hands_the_build_to_the_celery_task(monkeypatch):
    from builds import tasks

    sent: list[dict] = []
    monkeypatch.setattr(tasks.run_build, "apply_async", lambda **kw: sent.append(kw))
    real_enqueue_build(7, "task-7")  # imported before the autouse stand-in replaced it
    assert [(kw["args"], kw["task_id"], kw["retry"]) for kw in sent] == [([7], "task-7", True)]
    assert tasks.run_build.name == "builds.run_build"
    assert tasks.recover_stale.name == "builds.recover_stale"

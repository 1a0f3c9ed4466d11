"""The runner's writes are throttled and its heartbeat keeps a long, quiet step alive."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from builds.models import Build
from builds.services import lifecycle, runner
from builds.tasks import run_build
from tests.builds_app.conftest import queue_one, write_artifacts


def _result(out_dir, arch):
    return SimpleNamespace(
        artifacts=write_artifacts(out_dir, arch), steps=[], cache_hits=0, downloaded_bytes=0
    )


@pytest.mark.django_db
def test_progress_and_cancel_checks_are_throttled(recipe, fake_builder, monkeypatch):
    build = queue_one(recipe)
    writes: list[tuple[int, str]] = []
    checks: list[int] = []
    real_progress, real_check = lifecycle.build_progress, lifecycle.build_should_cancel

    def counting_progress(**kw):
        writes.append((kw["percent"], kw["step"]))
        return real_progress(**kw)

    def counting_check(**kw):
        checks.append(kw["build_id"])
        return real_check(**kw)

    monkeypatch.setattr(runner, "build_progress", counting_progress)
    monkeypatch.setattr(runner, "build_should_cancel", counting_check)

    def chatty(recipe_text, *, arch, out_dir, progress, should_cancel, **kw):
        for n in range(2000):
            progress(n // 40, "pull")  # one step, many reports within a fraction of a second
            should_cancel()
        progress(99, "initramfs")  # a new step is written at once
        return _result(out_dir, arch)

    fake_builder(chatty)
    assert run_build.run(build.pk) == "success"
    assert len(writes) <= 5
    assert writes[-1] == (99, "initramfs")
    assert len(checks) <= 3


@pytest.mark.django_db(transaction=True)
def test_heartbeat_beats_during_a_quiet_step(recipe, fake_builder, settings):
    settings.BUILD_HEARTBEAT_SECONDS = 0.1
    build = queue_one(recipe)
    beats: list[object] = []

    def quiet(recipe_text, *, arch, out_dir, **kw):
        first = Build.objects.get(pk=build.pk).heartbeat_at
        time.sleep(0.6)
        beats.extend([first, Build.objects.get(pk=build.pk).heartbeat_at])
        return _result(out_dir, arch)

    fake_builder(quiet)
    assert run_build.run(build.pk) == "success"
    assert beats[1] > beats[0]

"""A web process keeps what it loaded at start out of garbage-collection passes and collects
its young objects less often."""

from __future__ import annotations

import gc
import subprocess
import sys
import weakref

from rackpilot.core.process import GC_THRESHOLDS


def test_loading_the_web_application_tunes_its_garbage_collection() -> None:
    # In a process of its own: the test process's own heap says nothing about a server's.
    probe = (
        "import gc; before = gc.get_freeze_count(); import rackpilot.asgi; "
        "print(before, gc.get_freeze_count(), gc.get_threshold()[0])"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True
    ).stdout.split()
    before, after, youngest = int(out[-3]), int(out[-2]), int(out[-1])
    assert before == 0
    assert after > 50_000  # Django, the apps, DRF, channels: everything loaded at start
    assert youngest == GC_THRESHOLDS[0]


def test_garbage_is_collected_before_the_freeze() -> None:
    from rackpilot.core.process import tune_garbage_collection

    class Cycle:
        pass

    cycle = Cycle()
    cycle.self = cycle  # type: ignore[attr-defined]
    alive = weakref.ref(cycle)
    del cycle
    thresholds = gc.get_threshold()
    gc.disable()  # only the freeze's own collection may free it
    try:
        assert alive() is not None
        tune_garbage_collection()
        assert alive() is None  # collected, not frozen for ever
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()  # the test process goes on collecting as before
        gc.set_threshold(*thresholds)
        gc.enable()

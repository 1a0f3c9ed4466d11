"""What a long-running Rackpilot process does once it has loaded everything it serves with."""

from __future__ import annotations

import gc


def freeze_loaded_objects() -> None:
    """Keep what start-up loaded (models, URL patterns, serializers, templates: some 150,000
    objects) out of the cyclic garbage collector's full passes.

    Each full pass walked all of them again, every few hundred requests: the API machine list
    took 29 ms at the median and 157 ms at the 95th percentile, a pass landing in one request
    in twenty; frozen, the 95th percentile is 50 ms (`benchmarks/cockpit.py`). Garbage is
    collected first, so nothing unreachable is kept forever.
    """
    gc.collect()
    gc.freeze()

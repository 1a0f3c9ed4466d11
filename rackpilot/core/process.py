"""What a long-running Rackpilot process does once it has loaded everything it serves with."""

from __future__ import annotations

import gc

# Collections of the youngest generation after this many new container objects (Python's
# default is 700), and of the older ones after 20 and 100 of the younger's.
GC_THRESHOLDS = (50_000, 20, 100)


def tune_garbage_collection() -> None:
    """Keep what start-up loaded (models, URL patterns, serializers, templates: some 150,000
    objects) out of the cyclic garbage collector's passes, and collect less often.

    A full pass walked all of them again every few hundred requests: the API machine list took
    29 ms at the median and 157 ms at the 95th percentile, a pass landing in one request in
    twenty. Frozen, the passes still came every ~15 requests (each request leaves cycles: model
    instances, querysets, bound serializer fields) and cost 20 to 40 ms, having promoted the
    objects of requests under way; with the youngest generation collected every 50,000 new
    objects instead of 700, most of a request's cycles are dead by the first pass that sees
    them: p95 37 → 32 ms, a third less time in the collector (`benchmarks/cockpit.py`, in
    process). Garbage is collected before the freeze, so nothing unreachable is kept forever.
    """
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)

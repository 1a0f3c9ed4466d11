"""Prometheus metrics: the registry, the request counters and the registration point for apps.

Two kinds of figures:

- Counted by the process that sees the event (requests, agent sockets, log lines, netboot
  requests): ``counter`` / ``gauge`` / the histogram below. With ``PROMETHEUS_MULTIPROC_DIR``
  set, prometheus_client keeps their values in files of that directory, one per process, and
  a scrape of any process sums every process's files. Without it each process counts alone.
- Read from the database when Prometheus scrapes (machines, builds, power jobs by state, actions
  running): collectors an app registers with ``register_collector`` from its AppConfig.ready.
  The database is the truth for those, so every process answers the same.

``prepare_multiprocess_dir`` (once, before the processes start) and ``mark_process_dead``
(when one exits) are called by whatever starts the processes.
"""

from __future__ import annotations

import atexit
import os
import shutil
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client import multiprocess as _multiprocess
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
# prometheus_client decides at import time, from the environment, whether values go to files.
MULTIPROC_DIR = os.environ.get(MULTIPROC_ENV, "")
if MULTIPROC_DIR:
    # A worker started on its own (not through rackpilot.run) must not fail on its first
    # increment because nobody created the directory yet.
    Path(MULTIPROC_DIR).mkdir(parents=True, exist_ok=True)

GaugeMode = Literal["livesum", "liveall", "livemax", "livemin", "sum", "max", "min", "all"]

# The metrics this process counts. Never exposed as such in multi-process mode: the files of
# every process are (see exposition_registry).
REGISTRY = CollectorRegistry(auto_describe=True)
_scrape_collectors: list[Collector] = []


def counter(name: str, documentation: str, labels: tuple[str, ...] = ()) -> Counter:
    """A counter of this process, summed over processes in multi-process mode."""
    return Counter(name, documentation, list(labels), registry=REGISTRY)


def gauge(
    name: str, documentation: str, *, multiprocess_mode: GaugeMode, labels: tuple[str, ...] = ()
) -> Gauge:
    """A gauge of this process; ``multiprocess_mode`` says how processes combine (``livesum``:
    the sum over the processes still alive, e.g. sockets open on each)."""
    return Gauge(
        name, documentation, list(labels), registry=REGISTRY, multiprocess_mode=multiprocess_mode
    )


def register_collector(collector: Collector) -> None:
    """Add a collector read at scrape time (a database count). Its ``describe`` must return
    ``[]``: otherwise registering it would query the database while the apps load."""
    _scrape_collectors.append(collector)
    REGISTRY.register(collector)


class ScrapeGauge(Collector):
    """A gauge read when Prometheus scrapes: ``read`` returns the value, or with ``label`` the
    value per label value (e.g. rows per state, from one aggregate query)."""

    def __init__(
        self,
        name: str,
        documentation: str,
        read: Callable[[], float | Mapping[str, float]],
        *,
        label: str | None = None,
    ) -> None:
        self.name, self.documentation, self.read, self.label = name, documentation, read, label

    def describe(self) -> list[GaugeMetricFamily]:
        return []

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            self.name, self.documentation, labels=[self.label] if self.label else None
        )
        values = self.read()
        if isinstance(values, Mapping):
            for key, value in values.items():
                family.add_metric([key], value)
        else:
            family.add_metric([], values)
        yield family


def register_scrape_gauge(
    name: str,
    documentation: str,
    read: Callable[[], float | Mapping[str, float]],
    *,
    label: str | None = None,
) -> None:
    register_collector(ScrapeGauge(name, documentation, read, label=label))


def exposition_registry() -> CollectorRegistry:
    """What ``/metrics`` serves: this process's registry, or, in multi-process mode, every
    process's files plus the scrape-time collectors."""
    if not MULTIPROC_DIR:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    _multiprocess.MultiProcessCollector(registry, path=MULTIPROC_DIR)
    for collector in _scrape_collectors:
        registry.register(collector)
    return registry


def prepare_multiprocess_dir(path: str | os.PathLike[str]) -> None:
    """Create ``path`` empty. Call it before any process that counts starts: files left by an
    earlier run would be added to this run's counters (and its pids may be reused)."""
    directory = Path(path)
    if directory.is_dir():
        for entry in directory.iterdir():
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
    directory.mkdir(parents=True, exist_ok=True)


def mark_process_dead(pid: int, path: str | os.PathLike[str] | None = None) -> None:
    """Forget the live gauges of process ``pid`` (it exited): its open agent sockets are not
    open any more. Its counters stay, so totals never go backwards."""
    directory = path or MULTIPROC_DIR
    if directory:
        _multiprocess.mark_process_dead(pid, str(directory))


if MULTIPROC_DIR:
    # A process that exits cleanly forgets its own live gauges; web workers a server forks
    # itself (uvicorn --workers) have no supervisor of ours that could. A crash leaves them
    # until mark_process_dead or the next prepare_multiprocess_dir.
    atexit.register(lambda: mark_process_dead(os.getpid()))


HTTP_REQUESTS = counter(
    "rackpilot_http_requests_total", "HTTP requests served", ("method", "view", "status")
)
HTTP_LATENCY = Histogram(
    "rackpilot_http_request_duration_seconds",
    "Time to serve an HTTP request",
    ["view"],
    registry=REGISTRY,
)

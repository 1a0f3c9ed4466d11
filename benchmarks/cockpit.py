"""The cockpit at fleet scale: list pages, the API list, the overview and the events page over a
large inventory and a long event log.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rackpilot_bench_cockpit \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
    .venv/bin/python benchmarks/cockpit.py --machines 10000 --events 1000000

It creates (and empties) the database it is pointed at, fills it with ``--machines`` machines
(each with a boot interface, a disk, a BMC and a tag, in racks of 40 over four sites),
``--workflows`` finished workflows with their boot events, and ``--events`` audit events
(PostgreSQL ``generate_series``), then requests each page ``--rounds`` times through Django's test
client in this process (no HTTP server: the figure is the view, its queries and its template).

Printed per page: p50 / p95 in ms and the number of SQL queries, next to the same page over a
small fleet (``--small`` machines) in the same run: a list page's query count must not grow with
the fleet. References, same run: ``/healthz`` through the same client (the framework's floor:
middleware, routing, a response) and the machine list's own SQL run bare on a cursor (the
database's floor for that page).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import (  # noqa: E402
    Figure,
    add_arguments,
    figure,
    fill_defaults,
    percentile,
    reference,
    write_json,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench_cockpit")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")

MACHINES_PER_RACK = 40
SITES = 4


def _mac(prefix: str, n: int) -> str:
    octets = (2, ord(prefix[-1]), 0, n // 65536 % 256, n // 256 % 256, n % 256)
    return ":".join(f"{octet:02x}" for octet in octets)


def seed(machines: int, workflows: int, *, prefix: str) -> None:
    """A fleet written in bulk (benchmark data: no events per row, as an import would not)."""
    from inventory.models import BMC, Disk, Machine, NetworkInterface, Rack, Site, Tag
    from inventory.states import MachineState

    states = [s.value for s in MachineState]
    sites = [
        Site.objects.create(name=f"{prefix} site {n}", slug=f"{prefix}-site-{n}")
        for n in range(SITES)
    ]
    rack_count = max(1, -(-machines // MACHINES_PER_RACK))
    racks = Rack.objects.bulk_create(
        Rack(site=sites[n % SITES], name=f"{prefix}-r{n:04d}", u_height=48)
        for n in range(rack_count)
    )
    tags = [
        Tag.objects.create(name=f"{prefix}-tag-{n}", slug=f"{prefix}-tag-{n}") for n in range(8)
    ]
    rng = random.Random(machines)
    rows = Machine.objects.bulk_create(
        (
            Machine(
                hostname=f"{prefix}-{n:05d}",
                rack=racks[n // MACHINES_PER_RACK],
                position=n % MACHINES_PER_RACK + 1,
                state=rng.choice(states),
                serial_number=f"SN{n:08d}",
                hardware={"dmi": {"product_name": f"Model {n % 5}"}},
            )
            for n in range(machines)
        ),
        batch_size=2000,
    )
    NetworkInterface.objects.bulk_create(
        (
            NetworkInterface(
                machine=m,
                name="eth0",
                mac=_mac(prefix, n),
                ip=f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
                is_boot=True,
            )
            for n, m in enumerate(rows)
        ),
        batch_size=2000,
    )
    Disk.objects.bulk_create(
        (Disk(machine=m, device="/dev/sda", size_bytes=480 * 10**9) for m in rows), batch_size=2000
    )
    BMC.objects.bulk_create(
        (BMC(machine=m, address=f"10.200.{n // 256 % 256}.{n % 256}") for n, m in enumerate(rows)),
        batch_size=2000,
    )
    through = Machine.tags.through
    through.objects.bulk_create(
        (through(machine_id=m.pk, tag_id=tags[n % len(tags)].pk) for n, m in enumerate(rows)),
        batch_size=5000,
    )
    _finished_workflows(rows[:workflows], prefix=prefix)


@contextlib.contextmanager
def given_timestamps(model: Any, field_name: str) -> Iterator[None]:
    """Bulk rows keep the moments the benchmark gives them instead of auto_now_add's now."""
    field = model._meta.get_field(field_name)
    field.auto_now_add = False
    try:
        yield
    finally:
        field.auto_now_add = True


def _finished_workflows(machines: list[Any], *, prefix: str) -> None:
    """One finished workflow per machine, with its actions and boot events, over 14 days."""
    from datetime import timedelta

    from django.utils import timezone

    from rackpilot.core.actors import Actor
    from rackpilot.core.models import Event
    from workflows.models import Action, Task, Template, Workflow
    from workflows.services.templates import template_create

    if not machines:
        return
    body = (
        f'version: "0.1"\nname: {prefix}-install\nglobal_timeout: 3600\ntasks:\n  - name: t\n'
        '    worker: "{{ .device_1 }}"\n    actions:\n'
        "      - name: image\n        image: 127.0.0.1:5000/a:v1\n        timeout: 900\n"
        "      - name: kexec\n        image: 127.0.0.1:5000/b:v1\n        timeout: 90\n"
    )
    template: Template = template_create(
        actor=Actor.system("benchmark"), name=f"{prefix}-install", body=body
    )
    now = timezone.now()
    rng = random.Random(len(machines))
    workflows = []
    for n, machine in enumerate(machines):
        start = now - timedelta(days=n % 14, hours=rng.uniform(0, 20))
        workflows.append(
            Workflow(
                template=template,
                machine=machine,
                state="success" if n % 9 else "failed",
                global_timeout=3600,
                created_at=start,
                started_at=start + timedelta(seconds=150),
                finished_at=start + timedelta(seconds=460),
            )
        )
    with given_timestamps(Workflow, "created_at"):
        workflows = Workflow.objects.bulk_create(workflows, batch_size=2000)
    tasks = Task.objects.bulk_create(
        (Task(workflow=w, name="t", worker="x", order=1) for w in workflows), batch_size=2000
    )
    Action.objects.bulk_create(
        (
            Action(
                task=t,
                name=name,
                image="a",
                timeout=900,
                order=order,
                state="success",
                started_at=w.created_at + timedelta(seconds=150 + offset),
                finished_at=w.created_at + timedelta(seconds=150 + offset + length),
            )
            for t, w in zip(tasks, workflows, strict=True)
            for order, (name, offset, length) in enumerate((("image", 0, 300), ("kexec", 301, 5)))
        ),
        batch_size=4000,
    )
    marks = []
    for w in workflows:
        created = w.created_at
        for verb, offset in (
            ("power.requested", 1),
            ("netboot.script_served", 90),
            ("netboot.kernel_fetched", 91),
            ("netboot.initrd_fetched", 94),
            ("agent.connected", 125),
        ):
            marks.append(
                Event(
                    actor_kind="system", actor_name="benchmark", verb=verb,
                    machine_id=w.machine_id, timestamp=created + timedelta(seconds=offset),
                )
            )  # fmt: skip
    with given_timestamps(Event, "timestamp"):
        Event.objects.bulk_create(marks, batch_size=5000)


def fill_events(count: int) -> None:
    """``count`` audit events spread over 90 days, written by PostgreSQL itself."""
    from django.db import connection

    verbs = "ARRAY[{}]".format(
        ",".join(
            f"'{verb}'"
            for verb in (
                "machine.updated",
                "power.requested",
                "netboot.script_served",
                "workflow.created",
                "agent.connected",
                "bmc.power_state_changed",
            )
        )
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO core_event (timestamp, actor_kind, actor_name, verb, object_id,
                                    object_repr, machine_id, changes, message, request_id)
            SELECT now() - (n * interval '90 days' / %s), 'system', 'benchmark',
                   ({verbs})[1 + n %% 6], '', 'object ' || n,
                   CASE WHEN n %% 3 = 0 THEN NULL ELSE (SELECT min(id) FROM inventory_machine)
                        + n %% LEAST(1000, (SELECT count(*) FROM inventory_machine)) END,
                   '{{}}'::jsonb, '', ''
            FROM generate_series(1, %s) AS n
            """,
            [count, count],
        )


def settle() -> None:
    """Vacuum and analyze what the seeding wrote, as autovacuum would have on a database in
    service: otherwise it starts in the middle of the measurement (10,000 new rows per table
    are past its thresholds) and the planner works without statistics."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")


def measure(get: Callable[[], Any], rounds: int) -> dict[str, float]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    get()  # warm: templates compiled, caches filled
    times = []
    queries = 0
    for _ in range(rounds):
        with CaptureQueriesContext(connection) as captured:
            started = time.perf_counter()
            response = get()
            times.append((time.perf_counter() - started) * 1000)
        status = getattr(response, "status_code", 200)
        if status != 200:
            raise SystemExit(f"answered {status}")
        queries = len(captured)
    return {"p50": statistics.median(times), "p95": percentile(times, 0.95), "queries": queries}


def cold(get: Callable[[], Any]) -> Any:
    """``get()`` after emptying the cache (the benchmark's own Redis database)."""
    from django.core.cache import cache

    cache.clear()
    return get()


def pages(
    client: Any, machines: int, page: int | None = None, select: list[str] | None = None
) -> dict[str, Callable[[], Any]]:
    """The pages measured; ``page`` is the deep page (default: the middle one, and never past
    the last), ``select`` keeps the pages whose names start with one of its entries."""
    last_page = max(1, machines // 50)
    deep = min(page, last_page) if page else max(1, last_page // 2)
    every = {
        "machine list": lambda: client.get("/machines/"),
        f"machine list, page {deep}": lambda: client.get(f"/machines/?page={deep}"),
        "machine list, state + sort": lambda: client.get(
            "/machines/?state=ready&ordering=-hostname"
        ),
        "machine list, search": lambda: client.get("/machines/?q=00042"),
        "machines CSV export": lambda: b"".join(
            client.get("/machines/export.csv").streaming_content
        ),
        "API machine list": lambda: client.get("/api/v1/machines/"),
        f"API machine list, page {deep}": lambda: client.get(f"/api/v1/machines/?page={deep}"),
        "workflow list": lambda: client.get("/workflows/"),
        "overview": lambda: client.get("/"),
        # The charts and the phase table recomputed (as after a workflow finishes).
        "overview, cache cold": lambda: cold(lambda: client.get("/")),
        "overview counters (live)": lambda: client.get("/overview/live/"),
        "events page": lambda: client.get("/events/"),
        "events page, page 500": lambda: client.get("/events/?page=500"),
        "events page, verb prefix": lambda: client.get("/events/?verb_prefix=netboot."),
        "API events": lambda: client.get("/api/v1/events/"),
    }
    if not select:
        return every
    return {name: get for name, get in every.items() if name.startswith(tuple(select))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--machines", type=int, help="default 10,000 (--quick: 2,000)")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--workflows", type=int, help="default 2,000 (--quick: 400)")
    parser.add_argument("--events", type=int, help="default 1,000,000 (--quick: 20,000)")
    parser.add_argument("--rounds", type=int, help="requests per page (default 30, --quick 10)")
    parser.add_argument(
        "--page", type=int, help="the deep page of the lists (default: the middle one)"
    )
    parser.add_argument(
        "--select",
        action="append",
        metavar="NAME",
        help="measure only the pages whose names start with NAME (repeatable), "
        'e.g. --select "API machine list"',
    )
    add_arguments(parser)
    args = parser.parse_args()
    fill_defaults(
        args,
        full={"machines": 10_000, "workflows": 2_000, "events": 1_000_000, "rounds": 30},
        quick={"machines": 2_000, "workflows": 400, "events": 20_000, "rounds": 10},
    )

    import django

    django.setup()
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.test import Client

    from rackpilot.core.process import tune_garbage_collection

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)
    admin = User.objects.create_superuser("bench", "bench@example.com", "bench-password-1")
    client = Client(HTTP_HOST="127.0.0.1")
    client.force_login(admin)

    results: dict[str, dict[str, dict[str, float]]] = {}
    for label, count, workflows, events in (
        ("small", args.small, min(args.small, args.workflows), 10_000),
        ("large", args.machines, args.workflows, args.events),
    ):
        if label == "large":
            call_command("flush", interactive=False, verbosity=0)
            admin = User.objects.create_superuser("bench", "bench@example.com", "bench-password-1")
            client.force_login(admin)
        started = time.perf_counter()
        seed(count, workflows, prefix=f"b{label[0]}")
        fill_events(events)
        settle()
        print(
            f"{label}: {count} machines, {workflows} workflows, {events} events "
            f"in {time.perf_counter() - started:.0f} s",
            flush=True,
        )
        # The benchmark is the web process here: it tunes its garbage collection as a web
        # process does once started (rackpilot/asgi.py).
        tune_garbage_collection()
        results[label] = {
            name: measure(get, args.rounds)
            for name, get in pages(client, count, args.page, args.select).items()
        }
    report(args, results, references(client, args.rounds))


def references(client: Any, rounds: int) -> dict[str, dict[str, float]]:
    """The framework's floor (/healthz) and the database's for the machine list page."""
    from django.db import connection

    from inventory.selectors import machine_list

    sql, params = machine_list().order_by("hostname")[:50].query.sql_with_params()

    def bare() -> None:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            cursor.fetchall()

    return {
        "healthz": measure(lambda: client.get("/healthz"), rounds),
        "bare SQL": measure(bare, rounds),
    }


def _same_page(results: dict[str, dict[str, float]], name: str) -> dict[str, float]:
    """The small fleet's figures of a page: the same name with another page number, else the
    first page of the same list."""
    deep = re.sub(r"page \d+", "page", name)
    same = [v for k, v in results.items() if re.sub(r"page \d+", "page", k) == deep]
    if same:
        return same[0]
    base = name.split(",")[0]
    return next((v for k, v in results.items() if k.split(",")[0] == base), {})


def report(
    args: argparse.Namespace,
    results: dict[str, dict[str, dict[str, float]]],
    floors: dict[str, dict[str, float]],
) -> None:
    print()
    print(f"benchmarks/cockpit.py --machines {args.machines} --events {args.events}", end="")
    print(f" --rounds {args.rounds}")
    print(f"| page | p50 ms | p95 ms | queries at {args.machines} | queries at {args.small} |")
    print("|---|---|---|---|---|")
    grew = []
    for name, large in results["large"].items():
        small = _same_page(results["small"], name)
        # A streamed export reads its related rows once per 2,000 rows; a cold cache adds the
        # queries of what it recomputes. Every other page must not grow with the fleet.
        per_chunk = "CSV" in name or "cold" in name
        if small and small["queries"] != large["queries"] and not per_chunk:
            grew.append(name)
        print(
            f"| {name} | {large['p50']:.1f} | {large['p95']:.1f} | {large['queries']} | "
            f"{small.get('queries', '—')} |"
        )
    first = "machine list" if "machine list" in results["large"] else next(iter(results["large"]))
    page = results["large"][first]["p95"]
    print()
    for name, floor in floors.items():
        print(
            f"reference {name} p95 {floor['p95']:.2f} ms; "
            f"ratio {name} / {first} p95: {floor['p95'] / page:.3f}"
        )
    print("query counts constant with the fleet size:", "yes" if not grew else f"NO: {grew}")
    write_json(
        args.json,
        "cockpit",
        figures_of(args, results, floors),
        [
            f"{args.machines:,} machines, {args.workflows:,} workflows, {args.events:,} events; "
            f"{args.rounds} requests per page through Django's test client (no HTTP server); "
            f"query counts compared with {args.small} machines"
        ],
    )


def figures_of(
    args: argparse.Namespace,
    results: dict[str, dict[str, dict[str, float]]],
    floors: dict[str, dict[str, float]],
) -> list[Figure]:
    figures: list[Figure] = []
    healthz = reference("/healthz p95, same client", floors["healthz"]["p95"], "ms")
    for name, large in results["large"].items():
        # The API list's goal; the pages' p95 are figures to watch.
        api_list = name.startswith("API machine list")
        figures.append(
            figure(
                f"{name}, {args.machines:,} machines: p95",
                large["p95"],
                "ms",
                goal="≤ 50 ms" if api_list else None,
                met=large["p95"] <= 50,
                reference=healthz,
            )
        )
        small = _same_page(results["small"], name)
        if small and "CSV" not in name and "cold" not in name:
            figures.append(
                figure(
                    f"{name}: SQL queries at {args.machines:,} machines",
                    large["queries"],
                    "queries",
                    goal=f"constant (= at {args.small} machines)",
                    met=large["queries"] == small["queries"],
                    reference=reference(
                        f"same page at {args.small} machines", small["queries"], "queries"
                    ),
                )
            )
    return figures


if __name__ == "__main__":
    main()

"""Netboot at fleet scale: iPXE scripts and artifact downloads from the web tier
(`--server`, `--workers`; one uvicorn process by default).

Reference measured in the same run: nginx (one worker process) serving a static file of the
same size as a served script, and the very same initramfs file.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/rackpilot_bench_netboot \\
    REDIS_URL=redis://127.0.0.1:6379/7 \\
    .venv/bin/python benchmarks/netboot.py --machines 10000 --artifact-mib 32

It creates (and empties) the benchmark database it is pointed at; the artifacts live in a
temporary directory. Load comes from `wrk`; everything talks to loopback only.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.common import (  # noqa: E402
    Figure,
    add_arguments,
    command_line,
    figure,
    fill_defaults,
    free_port,
    reference,
    stop_process,
    write_json,
)
from benchmarks.netboot_servers import (  # noqa: E402
    WRK_RANDOM_MAC,
    ConnectionWatch,
    _wait_http,
    fail,
    measure,
    nginx_start,
    peak_worker_rss_mib,
    print_tail,
    server_rss,
    start_server,
)

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rackpilot.settings")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/rackpilot_bench_netboot")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/7")
os.environ.setdefault("CHANNELS_PREFIX", f"rackpilot-bench-{os.getpid()}")
# The load comes from one address: a per-source rate limit would measure the limit instead.
os.environ.setdefault("NETBOOT_RATE_LIMIT", "0")
os.environ.setdefault("NETBOOT_ARTIFACT_RATE_LIMIT", "0")
# wrk asks from loopback for every machine, as a DHCP relay or proxy would.
os.environ.setdefault("NETBOOT_TRUSTED_PROXIES", "127.0.0.1/32")

ARCH = "x86_64"
RACK_UNITS = 42


def mac_of(index: int) -> str:
    return "02:00:" + ":".join(f"{(index >> shift) & 0xFF:02x}" for shift in (24, 16, 8, 0))


def prepare(machines: int, artifact_mib: int, artifacts_dir: Path) -> list[str]:
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("ensure_database", verbosity=0)
    call_command("migrate", verbosity=0)
    call_command("flush", interactive=False, verbosity=0)

    from builds.models import Build, BuildArtifact, BuildRecipe
    from builds.states import BuildState
    from inventory import services as inventory_services
    from inventory.models import Machine, NetworkInterface
    from rackpilot.core.actors import Actor
    from workflows.models import Template, Workflow

    actor = Actor.system("benchmark")
    sites = [
        inventory_services.site_create(
            actor=actor, name=f"Site {code}", slug=code, facility_code=code
        )
        for code in ("fra1", "ams2", "par3")
    ]
    racks = [
        inventory_services.rack_create(
            actor=actor, site=sites[index % len(sites)], name=f"r{index:03d}", u_height=RACK_UNITS
        )
        for index in range((machines + RACK_UNITS - 1) // RACK_UNITS)
    ]
    # Benchmark fixture data, not a state change of the product: bulk_create skips the
    # services (and their events) so 10,000 machines load in seconds.
    rows = Machine.objects.bulk_create(
        [
            Machine(
                hostname=f"node-{index:05d}",
                rack=racks[index // RACK_UNITS],
                position=index % RACK_UNITS + 1,
                arch=ARCH,
                uefi=index % 2 == 0,
                allow_pxe=True,
            )
            for index in range(machines)
        ],
        batch_size=2000,
    )
    macs = [mac_of(index) for index in range(machines)]
    NetworkInterface.objects.bulk_create(
        [
            NetworkInterface(
                machine=machine,
                name="eth0",
                mac=macs[index],
                ip=f"10.{index >> 16 & 0xFF}.{index >> 8 & 0xFF}.{index & 0xFF}",
                netmask="255.0.0.0",
                is_boot=True,
            )
            for index, machine in enumerate(rows)
        ],
        batch_size=2000,
    )

    # Each machine has a pending workflow: the script it gets is Hook with a boot nonce, the
    # path a provisioning boot takes (a machine with nothing to do gets a short exit script).
    template = Template.objects.create(name="bench", body="version: '0.1'")
    Workflow.objects.bulk_create(
        [Workflow(template=template, machine=machine, global_timeout=3600) for machine in rows],
        batch_size=2000,
    )

    recipe = BuildRecipe.objects.create(name="hook", config="kernel: {}", arches=[ARCH])
    build = Build.objects.create(
        recipe=recipe, arch=ARCH, state=BuildState.SUCCESS, progress=100, is_default=True
    )
    (artifacts_dir / str(build.pk)).mkdir(parents=True)
    for name, mib in ((f"vmlinuz-{ARCH}", 1), (f"initramfs-{ARCH}", artifact_mib)):
        data = os.urandom(mib * 1024 * 1024)
        (artifacts_dir / str(build.pk) / name).write_bytes(data)
        BuildArtifact.objects.create(
            build=build,
            name=name,
            size=len(data),
            sha256=hashlib.sha256(data).hexdigest(),
            path=f"{build.pk}/{name}",
        )
    # Vacuumed and analyzed, as autovacuum leaves a database in service (otherwise it starts
    # in the middle of the first measurement and the planner has no statistics).
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE)")
    return macs


def row(label: str, result: dict[str, Any], *, throughput: bool) -> str:
    extra = f"{result['mib_s']:8.1f} MiB/s  " if throughput else ""
    return (
        f"  {label:<10} {result['rps']:10,.1f} req/s  {extra}"
        f"p50 {result['p50_us'] / 1000:8.1f} ms  p99 {result['p99_us'] / 1000:8.1f} ms  "
        f"({result['requests']} requests, {result['bytes'] / 2**20:,.1f} MiB, "
        f"non-2xx/3xx {result['status']})"
    )


def check_server(base: str, mac: str, artifact: Any, log: Path) -> bytes:
    """A script answers 200 with ``#!ipxe`` and the initramfs comes back whole."""
    with urllib.request.urlopen(f"{base}/ipxe/{mac}/auto.ipxe", timeout=10) as response:
        script: bytes = response.read()
        if response.status != 200 or not script.startswith(b"#!ipxe"):
            fail(f"script request answered {response.status}: {script[:200]!r}", log)
    with urllib.request.urlopen(f"{base}/artifacts/{ARCH}/{artifact.name}") as response:
        body = response.read()
        if response.status != 200 or len(body) != artifact.size:
            fail(f"artifact answered {response.status} with {len(body)} bytes", log)
    return script


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--machines", type=int, help="default 10,000 (--quick: 2,000)")
    parser.add_argument("--artifact-mib", type=int, help="initramfs size (default 32, --quick 8)")
    parser.add_argument("--connections", type=int, default=50, help="wrk connections")
    parser.add_argument(
        "--duration", type=float, help="seconds per measurement (default 10, --quick 3)"
    )
    parser.add_argument(
        "--warmup", type=float, help="seconds before each one (default 2, --quick 1)"
    )
    parser.add_argument(
        "--artifact-seconds",
        type=float,
        help="seconds per download measurement (each client must finish some downloads; "
        "default 30, --quick 6)",
    )
    parser.add_argument(
        "--db-conn-max-age",
        help="turn the server's connection pool off and keep connections this many seconds "
        "(default: the product's pool)",
    )
    parser.add_argument(
        "--server",
        default="uvicorn",
        choices=["uvicorn", "daphne"],
        help="the web server (rackpilot/webserver.py builds its command line)",
    )
    parser.add_argument(
        "--workers",
        type=int,
        nargs="+",
        default=[1],
        help="web worker processes (WEB_CONCURRENCY); several counts measure each in turn "
        "(scaling), on one database and against one nginx reference",
    )
    parser.add_argument(
        "--parts",
        nargs="+",
        choices=["scripts", "downloads"],
        default=["scripts", "downloads"],
        help="what to measure",
    )
    add_arguments(parser)
    args = parser.parse_args()
    fill_defaults(
        args,
        full={
            "machines": 10_000,
            "artifact_mib": 32,
            "duration": 10.0,
            "warmup": 2.0,
            "artifact_seconds": 30.0,
        },
        quick={
            "machines": 2_000,
            "artifact_mib": 8,
            "duration": 3.0,
            "warmup": 1.0,
            "artifact_seconds": 6.0,
        },
    )
    return args


def main() -> None:
    args = parse_args()
    command = command_line()

    workdir = Path(tempfile.mkdtemp(prefix="rackpilot-bench-netboot-"))
    artifacts_dir = workdir / "artifacts"
    port, nginx_port, front_port = free_port(), free_port(), free_port()
    os.environ.update(
        {
            "BUILD_ARTIFACTS_DIR": str(artifacts_dir),
            "RACKPILOT_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "ALLOWED_HOSTS": "127.0.0.1",
        }
    )
    started = time.perf_counter()
    macs = prepare(args.machines, args.artifact_mib, artifacts_dir)
    setup_seconds = time.perf_counter() - started

    from django.db import connection

    from builds.models import BuildArtifact
    from rackpilot.core.models import Event
    from workflows.models import AgentToken

    artifact = BuildArtifact.objects.get(name=f"initramfs-{ARCH}")
    connection.close()  # the watch counts the server's connections only
    watch = ConnectionWatch()
    watch.start()
    log = workdir / "server.log"
    server: subprocess.Popen[bytes] | None = None
    nginx: subprocess.Popen[bytes] | None = None
    base = f"http://127.0.0.1:{port}"
    nginx_base = f"http://127.0.0.1:{nginx_port}"
    macs_lua = "local macs = {" + ",".join(f'"{mac}"' for mac in macs) + "}\n"
    short = {"seconds": args.duration, "warmup": args.warmup, "log": log}
    # No wrk warm-up for downloads (the check read the file once): one would leave up to
    # --connections half-served downloads in the server for the measured run.
    long = {"seconds": args.artifact_seconds, "warmup": 0.0, "log": log}
    script_ng: dict[str, Any] = {}
    artifact_ng: dict[str, Any] = {}
    runs: dict[int, dict[str, Any]] = {}
    proxied: dict[str, Any] = {}
    script = b""
    try:
        for workers in args.workers:
            server = start_server(args, port, workers, log)
            _wait_http(f"{base}/healthz", args.server, log)
            script = check_server(base, macs[0], artifact, log)
            if nginx is None:
                front = (front_port, port, artifacts_dir)
                nginx = nginx_start(workdir, nginx_port, len(script), artifact.full_path, front)
            run: dict[str, Any] = {}
            # nginx first in each pair: requests the server still works on after wrk stops
            # must not slow the reference down. The reference is measured once.
            if "scripts" in args.parts:
                if not script_ng:
                    script_ng = measure(f"{nginx_base}/script.ipxe", "", args, **short)
                run["script"] = measure(base + "/", macs_lua + WRK_RANDOM_MAC, args, **short)
                run["script_rss"] = server_rss(server.pid)
                run["script_peak_mib"] = peak_worker_rss_mib(server.pid, workers)
            if "downloads" in args.parts:
                if not artifact_ng:
                    artifact_ng = measure(f"{nginx_base}/initramfs", "", args, **long)
                run["artifact"] = measure(
                    f"{base}/artifacts/{ARCH}/{artifact.name}", "", args, **long
                )
                run["artifact_rss"] = server_rss(server.pid)
                run["artifact_peak_mib"] = peak_worker_rss_mib(server.pid, workers)
            runs[workers] = run
            stop_process(server)
            server = None
        if "downloads" in args.parts:
            # Behind nginx, as docs/nginx-rackpilot.conf deploys it: Rackpilot checks each
            # download and hands the file to nginx (X-Accel-Redirect).
            behind_nginx = {
                "ARTIFACTS_ACCEL_REDIRECT": "/_artifacts",
                "TRUSTED_PROXIES": "127.0.0.1/32",
            }
            server = start_server(args, port, args.workers[0], log, behind_nginx)
            _wait_http(f"{base}/healthz", args.server, log)
            front_url = f"http://127.0.0.1:{front_port}/artifacts/{ARCH}/{artifact.name}"
            with urllib.request.urlopen(front_url, timeout=30) as answer:
                if len(answer.read()) != artifact.size:
                    fail("nginx did not send the whole artifact for Rackpilot", log)
            proxied = measure(front_url, "", args, **long)
            stop_process(server)
            server = None
    except Exception:
        print_tail(log)
        raise
    finally:
        watch.stop.set()
        if sys.exc_info()[0] is not None:
            print(f"peak PostgreSQL connections of the server: {watch.peak}", file=sys.stderr)
        stop_process(server)
        stop_process(nginx)
        shutil.rmtree(workdir, ignore_errors=True)

    tokens = AgentToken.objects.count() - len(args.workers)  # each check issued one
    served = Event.objects.filter(verb="netboot.script_served").count()
    issued = Event.objects.filter(verb="agent_token.issued").count()
    print(
        f"machines={args.machines} (setup {setup_seconds:.1f} s) script={len(script)} bytes "
        f"initramfs={args.artifact_mib} MiB connections={args.connections} wrk threads=2 "
        f"duration={args.duration:g} s (+{args.warmup:g} s warm-up each), downloads "
        f"{args.artifact_seconds:g} s, cpus={os.cpu_count()}"
    )
    for workers, run in runs.items():
        print(f"--- {args.server} x {workers} ---")
        if "script" in run:
            print("iPXE script, GET /ipxe/<random known MAC>/auto.ipxe:")
            print(row("rackpilot", run["script"], throughput=False))
            print(row("nginx", script_ng, throughput=False))
            print(f"  ratio rackpilot / nginx: {run['script']['rps'] / script_ng['rps']:.4f}")
            print(f"  {args.server} after the script runs: {run['script_rss']}")
        if "artifact" in run:
            print(
                f"initramfs download ({args.artifact_mib} MiB), "
                f"GET /artifacts/{ARCH}/{artifact.name}:"
            )
            print(row("rackpilot", run["artifact"], throughput=True))
            print(row("nginx", artifact_ng, throughput=True))
            ratio = run["artifact"]["mib_s"] / artifact_ng["mib_s"]
            print(f"  ratio rackpilot / nginx: {ratio:.4f}")
            print(f"  {args.server} after the downloads: {run['artifact_rss']}")
    if proxied:
        print(
            "the same download through nginx (X-Accel-Redirect), "
            f"{args.server} x {args.workers[0]}:"
        )
        print(row("rackpilot", proxied, throughput=True))
        print(
            f"  ratio rackpilot behind nginx / nginx: {proxied['mib_s'] / artifact_ng['mib_s']:.4f}"
        )
    if len(runs) > 1 and all("script" in run for run in runs.values()):
        first = min(runs)
        print("scaling, iPXE scripts req/s by web processes:")
        for workers, run in runs.items():
            speedup = run["script"]["rps"] / runs[first]["script"]["rps"]
            print(f"  {workers:>2}: {run['script']['rps']:10,.1f} req/s  x{speedup:.2f}")
    print(
        f"server: {args.server} x {', '.join(map(str, args.workers))}, "
        f"{'DB_CONN_MAX_AGE=' + args.db_conn_max_age if args.db_conn_max_age else 'pool'}"
        ", peak PostgreSQL "
        f"connections held: {watch.peak} (max_connections {watch.limit})"
    )
    completed = sum(
        run["script"]["warmup_requests"] + run["script"]["requests"]
        for run in runs.values()
        if "script" in run
    )
    print(
        f"written: {tokens} agent tokens by the script runs (wrk completed {completed} "
        f"requests); events: {served} netboot.script_served, {issued} agent_token.issued, "
        f"{Event.objects.count()} in all"
    )
    print(f"command: {command}")
    write_json(
        args.json,
        "netboot",
        figures_of(args, runs, script_ng, artifact_ng, proxied),
        [
            f"{args.server} x {', '.join(map(str, args.workers))} web processes, "
            f"{args.machines:,} machines, {args.connections} wrk connections, "
            f"{args.duration:g} s per script measurement, {args.artifact_seconds:g} s of "
            f"{args.artifact_mib} MiB downloads; nginx: one worker, sendfile on",
            f"peak PostgreSQL connections held by the server: {watch.peak}",
        ],
    )


def figures_of(
    args: argparse.Namespace,
    runs: dict[int, dict[str, Any]],
    script_ng: dict[str, Any],
    artifact_ng: dict[str, Any],
    proxied: dict[str, Any],
) -> list[Figure]:
    figures: list[Figure] = []
    clients = f"{args.machines:,} machines, {args.connections} clients"
    scaling = len(runs) > 1
    for workers, run in runs.items():
        procs = f"{workers} web process{'es' if workers > 1 else ''}"
        if "script" in run:
            rps, p99 = run["script"]["rps"], run["script"]["p99_us"] / 1000
            if scaling:
                figures.append(
                    figure(
                        f"iPXE scripts, {procs}",
                        rps,
                        "req/s",
                        reference=reference(
                            "nginx, same-size static file", script_ng["rps"], "req/s"
                        ),
                    )
                )
                continue
            figures += [
                figure(
                    f"iPXE scripts, {clients}",
                    rps,
                    "req/s",
                    goal="≥ 1,000 req/s",
                    met=rps >= 1000,
                    reference=reference("nginx, same-size static file", script_ng["rps"], "req/s"),
                ),
                figure(
                    f"iPXE scripts p99, {clients}",
                    p99,
                    "ms",
                    goal="≤ 100 ms",
                    met=p99 <= 100,
                    reference=reference("nginx p99", script_ng["p99_us"] / 1000, "ms"),
                ),
                figure(f"web peak RSS after the scripts, {procs}", run["script_peak_mib"], "MiB"),
            ]
        if "artifact" in run:
            mib_s = run["artifact"]["mib_s"]
            ratio = mib_s / artifact_ng["mib_s"]
            figures += [
                figure(
                    f"initramfs downloads ({args.artifact_mib} MiB), {args.connections} clients",
                    mib_s,
                    "MiB/s",
                    goal="≥ 80 % of nginx",
                    met=ratio >= 0.8,
                    reference=reference("nginx sendfile, same file", artifact_ng["mib_s"], "MiB/s"),
                ),
                figure(
                    "initramfs download p99 (whole file)",
                    run["artifact"]["p99_us"] / 1000,
                    "ms",
                    reference=reference("nginx p99", artifact_ng["p99_us"] / 1000, "ms"),
                ),
                figure(
                    f"web peak RSS after the downloads, {procs}", run["artifact_peak_mib"], "MiB"
                ),
            ]
    if proxied:
        ratio = proxied["mib_s"] / artifact_ng["mib_s"]
        figures.append(
            figure(
                f"initramfs downloads through nginx (X-Accel-Redirect), {args.connections} clients",
                proxied["mib_s"],
                "MiB/s",
                goal="≥ 80 % of nginx",
                met=ratio >= 0.8,
                reference=reference("nginx sendfile, same file", artifact_ng["mib_s"], "MiB/s"),
            )
        )
    if scaling and all("script" in run for run in runs.values()):
        first = min(runs)
        for workers, run in runs.items():
            if workers != first:
                figures.append(
                    figure(
                        f"iPXE scripts speed-up, {workers} vs {first} web processes",
                        run["script"]["rps"] / runs[first]["script"]["rps"],
                        "x",
                    )
                )
    return figures


if __name__ == "__main__":
    main()

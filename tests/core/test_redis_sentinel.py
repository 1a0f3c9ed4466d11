"""Redis through Sentinel: a real master, replica and sentinel on loopback; Celery's broker, the
Channels layer and the Django cache find the master through the sentinel, before and after a
failover."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import redis
from django.conf import settings
from django.core.cache.backends.redis import RedisCache
from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string
from kombu import Connection

from rackpilot.core import redis_sentinel
from tests.live_server import ROOT, free_port
from tests.tools import require_tool, stop_process

MASTER = "mymaster"


@dataclass
class SentinelCluster:
    master_port: int
    replica_port: int
    sentinel_port: int

    def url(self, db: int = 0) -> str:
        return f"sentinel://127.0.0.1:{self.sentinel_port}/{MASTER}/{db}"

    def client(self, port: int, db: int = 0) -> redis.Redis:
        return redis.Redis(host="127.0.0.1", port=port, db=db, socket_timeout=5)

    def master_address(self) -> tuple[str, int]:
        sentinel = self.client(self.sentinel_port)
        host, port = sentinel.execute_command("SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER)
        return host.decode(), int(port)


def wait_for(check: Callable[[], bool], what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except (redis.RedisError, OSError):
            pass
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def _role(cluster: SentinelCluster, port: int) -> str:
    info = cluster.client(port).info("replication")
    if info["role"] == "slave" and info.get("master_link_status") != "up":
        return "linking"
    return str(info["role"])


def _replica_promotable(cluster: SentinelCluster) -> bool:
    """The sentinel lists a replica before it has connected to it; a failover asked for before
    the sentinel has a link, a ping reply of the last 5 s and an INFO of the last 30 s from it
    is refused with NOGOODSLAVE."""
    replicas = cluster.client(cluster.sentinel_port).sentinel_slaves(MASTER)
    return any(
        replica["flags"] == "slave"
        and replica.get("master-link-status") == "ok"
        and replica["info-refresh"] < 20_000
        and replica["last-ok-ping-reply"] < 2000
        for replica in replicas
    )


@pytest.fixture
def sentinel_cluster(tmp_path: Path) -> Iterator[SentinelCluster]:
    binary = shutil.which("redis-server")
    require_tool(binary is not None, "redis-server (Debian package redis-server)")
    assert binary is not None
    cluster = SentinelCluster(free_port(), free_port(), free_port())
    processes: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> None:
        log = (tmp_path / f"{name}.log").open("wb")
        processes.append(
            subprocess.Popen([binary, *args], cwd=tmp_path, stdout=log, stderr=subprocess.STDOUT)
        )

    common = ["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
    # The sentinel rewrites its configuration file as it learns: a file of its own in tmp_path.
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {cluster.sentinel_port}\n"
        "bind 127.0.0.1\n"
        f"dir {tmp_path}\n"
        f"sentinel monitor {MASTER} 127.0.0.1 {cluster.master_port} 1\n"
        f"sentinel down-after-milliseconds {MASTER} 2000\n"
        f"sentinel failover-timeout {MASTER} 10000\n"
    )
    try:
        start("master", "--port", str(cluster.master_port), *common)
        start(
            "replica",
            "--port",
            str(cluster.replica_port),
            "--replicaof",
            "127.0.0.1",
            str(cluster.master_port),
            *common,
        )
        start("sentinel", str(config), "--sentinel")
        wait_for(lambda: _role(cluster, cluster.replica_port) == "slave", "the replica to sync")
        wait_for(lambda: _replica_promotable(cluster), "the sentinel to see a promotable replica")
        yield cluster
    finally:
        for process in processes:
            stop_process(process)


def test_url_parsing():
    target = redis_sentinel.parse_sentinel_url(
        "sentinel://:s%40cret@10.0.0.1:26379,[fd00::2]:26380,redis-3/prod-master/4"
        "?sentinel_password=sp"
    )
    assert target.sentinels == (("10.0.0.1", 26379), ("fd00::2", 26380), ("redis-3", 26379))
    assert (target.master, target.db, target.password) == ("prod-master", 4, "s@cret")
    assert target.sentinel_password == "sp"
    broker, options = redis_sentinel.celery_broker(target)
    assert broker.split(";")[1] == "sentinel://:s%40cret@[fd00::2]:26380/4"
    assert options == {"master_name": "prod-master", "sentinel_kwargs": {"password": "sp"}}
    for bad in ("sentinel://h:1", "sentinel:///m", "sentinel://h:x/m", "sentinel://h/m/0?tls=1"):
        with pytest.raises(redis_sentinel.SentinelUrlError):
            redis_sentinel.parse_sentinel_url(bad)


SETTINGS_PROBE = """
import asyncio, json
import django
django.setup()
from channels.layers import get_channel_layer
from django.core.cache import cache
from rackpilot.celery import app
from rackpilot.core.views import redis_client

out = {}
cache.set("probe", "through the sentinel")
out["cache"] = cache.get("probe")

async def channels_round_trip():
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add("probe", channel)
    await layer.group_send("probe", {"type": "probe.message", "text": "hello"})
    return await asyncio.wait_for(layer.receive(channel), 10)

out["channels"] = asyncio.run(channels_round_trip())
app.send_task("probe.task", args=[42], queue="sentinel-probe")
with app.connection_for_read() as connection:
    queue = connection.SimpleQueue("sentinel-probe")
    message = queue.get(timeout=10)
    out["celery"] = [message.headers["task"], message.headers["argsrepr"]]
    message.ack()
    queue.close()
out["health"] = redis_client().ping()
print(json.dumps(out))
"""


def test_settings_reach_the_master_through_the_sentinel(
    sentinel_cluster: SentinelCluster, tmp_path: Path
):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "PROMETHEUS_MULTIPROC_DIR"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "rackpilot.settings",
        "REDIS_URL": sentinel_cluster.url(db=3),
        "SECRET_KEY": "sentinel-test-" + "x" * 40,
        "RACKPILOT_VAR_DIR": str(tmp_path / "var"),
        "CACHE_KEY_PREFIX": "sentinel-probe",
    }
    result = subprocess.run(
        [sys.executable, "-c", SETTINGS_PROBE],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-5000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    assert out["cache"] == "through the sentinel"
    assert out["channels"] == {"type": "probe.message", "text": "hello"}
    assert out["celery"] == ["probe.task", "[42]"]
    assert out["health"] is True
    # Written to the master the sentinel named, in the database of the URL.
    master = sentinel_cluster.client(sentinel_cluster.master_port, db=3)
    assert master.exists("sentinel-probe:1:probe") == 1


def test_a_bad_sentinel_url_stops_the_start(tmp_path: Path):
    env = dict(os.environ) | {
        "DJANGO_SETTINGS_MODULE": "rackpilot.settings",
        "REDIS_URL": "sentinel://127.0.0.1:26379",
        "SECRET_KEY": "sentinel-test-" + "x" * 40,
        "RACKPILOT_VAR_DIR": str(tmp_path / "var"),
    }
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert ImproperlyConfigured.__name__ in result.stderr
    assert "/<master name>[/<db>]" in result.stderr


def test_clients_follow_a_failover(sentinel_cluster: SentinelCluster):
    url = sentinel_cluster.url(db=5)
    target = redis_sentinel.parse_sentinel_url(url)
    cache = RedisCache(
        [url],
        {
            "KEY_PREFIX": "failover",
            "OPTIONS": {
                "pool_class": "rackpilot.core.redis_sentinel.SentinelCachePool",
                "socket_timeout": 1.0,
                "socket_connect_timeout": 1.0,
            },
        },
    )
    # The layer the settings name, on the sentinels' master.
    layer_class = import_string(settings.CHANNEL_LAYERS["default"]["BACKEND"])
    layer = layer_class(hosts=[redis_sentinel.channels_host(target)], prefix="failover-layer")
    broker, options = redis_sentinel.celery_broker(target)

    def broker_round_trip(body: str) -> Any:
        with Connection(broker, transport_options=options) as connection:
            queue = connection.SimpleQueue("failover-probe")
            queue.put(body)
            message = queue.get(timeout=10)
            message.ack()
            queue.close()
            return message.payload

    async def channels_round_trip(text: str) -> dict[str, Any]:
        channel = await layer.new_channel()
        await layer.group_add("failover", channel)
        await layer.group_send("failover", {"type": "probe", "text": text})
        received: dict[str, Any] = await asyncio.wait_for(layer.receive(channel), 10)
        await layer.group_discard("failover", channel)
        return received

    def failover() -> None:
        old = (sentinel_cluster.master_port, sentinel_cluster.replica_port)
        # A loaded machine can delay the sentinel's pings past its 5 s freshness rule between
        # the fixture's check and this command: asked again once the replica is fresh.
        deadline = time.monotonic() + 30
        while True:
            wait_for(lambda: _replica_promotable(sentinel_cluster), "a promotable replica")
            try:
                sentinel_cluster.client(sentinel_cluster.sentinel_port).execute_command(
                    "SENTINEL", "FAILOVER", MASTER
                )
                break
            except redis.ResponseError as error:
                if "NOGOODSLAVE" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
        wait_for(
            lambda: sentinel_cluster.master_address()[1] == old[1],
            "the sentinel to promote the replica",
        )
        wait_for(lambda: _role(sentinel_cluster, old[1]) == "master", "the replica to lead")
        wait_for(lambda: _role(sentinel_cluster, old[0]) == "slave", "the old master to follow")

    async def scenario() -> None:
        cache.set("key", "before")
        assert cache.get("key") == "before"
        assert await channels_round_trip("before") == {"type": "probe", "text": "before"}
        assert broker_round_trip("before") == "before"

        await asyncio.to_thread(failover)

        # The same clients, their connections to the old master now stale or refused.
        cache.set("key", "after")
        assert cache.get("key") == "after"
        assert await channels_round_trip("after") == {"type": "probe", "text": "after"}
        assert broker_round_trip("after") == "after"
        await layer.flush()

    asyncio.run(scenario())
    new_master = sentinel_cluster.client(sentinel_cluster.replica_port, db=5)
    assert new_master.get("failover:1:key") is not None

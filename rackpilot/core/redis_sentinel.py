"""Redis through Sentinel: one ``sentinel://`` URL in REDIS_URL, turned into what each client
(Celery's broker, the Channels layer, the Django cache, the health check) takes.

    sentinel://[[username]:password@]host:port[,host:port...]/master-name[/db][?sentinel_password=...]

The password (and username) are the master's; ``sentinel_password`` is for sentinels that
require one. Every client asks the sentinels which server is the master when it connects and
again after a failover, so a promoted replica is found without a restart.

No Django imports: settings.py uses it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, quote, unquote

import redis
from redis.sentinel import Sentinel, SentinelConnectionPool

SCHEME = "sentinel"
DEFAULT_SENTINEL_PORT = 26379


class SentinelUrlError(ValueError):
    """REDIS_URL says sentinel:// but cannot be used; the message names what is wrong."""


@dataclass(frozen=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    master: str
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None

    def master_kwargs(self) -> dict[str, Any]:
        """Connection options of the master (and of replicas) beyond the address."""
        kwargs: dict[str, Any] = {"db": self.db}
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        return kwargs

    def sentinel_kwargs(self) -> dict[str, Any] | None:
        return {"password": self.sentinel_password} if self.sentinel_password else None


def is_sentinel_url(url: str) -> bool:
    return url.lower().startswith(SCHEME + "://")


def _host_port(item: str, url: str) -> tuple[str, int]:
    item = item.strip()
    if item.startswith("["):  # [v6-address]:port
        host, _, rest = item[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else ""
    else:
        host, _, port_text = item.rpartition(":") if ":" in item else (item, "", "")
    if not host:
        raise SentinelUrlError(f"REDIS_URL: sentinel address {item!r} has no host ({url})")
    try:
        port = int(port_text) if port_text else DEFAULT_SENTINEL_PORT
    except ValueError:
        raise SentinelUrlError(f"REDIS_URL: sentinel address {item!r} has a bad port") from None
    return host, port


def parse_sentinel_url(url: str) -> SentinelTarget:
    if not is_sentinel_url(url):
        raise SentinelUrlError("REDIS_URL: not a sentinel:// URL")
    # urlsplit cannot take several hosts; split the netloc by hand.
    rest = url[len(SCHEME) + 3 :]
    rest, _, query = rest.partition("?")
    netloc, _, path = rest.partition("/")
    credentials, _, hosts = netloc.rpartition("@")
    username, _, password = credentials.partition(":")
    sentinels = tuple(_host_port(item, url) for item in hosts.split(",") if item.strip())
    if not sentinels:
        raise SentinelUrlError("REDIS_URL: name at least one sentinel (sentinel://host:port/...)")
    parts = [unquote(part) for part in path.split("/") if part]
    if not parts or len(parts) > 2:
        raise SentinelUrlError(
            "REDIS_URL: the path is /<master name>[/<db>], e.g. sentinel://host:26379/mymaster/0"
        )
    try:
        db = int(parts[1]) if len(parts) == 2 else 0
    except ValueError:
        raise SentinelUrlError(f"REDIS_URL: database {parts[1]!r} is not a number") from None
    options = parse_qs(query)
    unknown = set(options) - {"sentinel_password"}
    if unknown:
        raise SentinelUrlError(f"REDIS_URL: unknown option(s) {', '.join(sorted(unknown))}")
    return SentinelTarget(
        sentinels=sentinels,
        master=parts[0],
        db=db,
        username=unquote(username) or None,
        password=unquote(password) or None,
        sentinel_password=options.get("sentinel_password", [""])[0] or None,
    )


def celery_broker(target: SentinelTarget) -> tuple[str, dict[str, Any]]:
    """Celery's broker URL and transport options: kombu takes one ``sentinel://`` URL per
    sentinel, separated by ``;``, the master's credentials and db in the first one."""
    credentials = ""
    if target.username or target.password:
        credentials = (
            f"{quote(target.username or '', safe='')}:{quote(target.password or '', safe='')}@"
        )
    urls = [
        f"{SCHEME}://{credentials}{_netloc(host, port)}/{target.db}"
        for host, port in target.sentinels
    ]
    options: dict[str, Any] = {"master_name": target.master}
    if target.sentinel_kwargs():
        options["sentinel_kwargs"] = target.sentinel_kwargs()
    return ";".join(urls), options


def channels_host(target: SentinelTarget) -> dict[str, Any]:
    """A ``hosts`` entry of channels_redis (it builds a sentinel pool from these keys)."""
    host: dict[str, Any] = {
        "sentinels": list(target.sentinels),
        "master_name": target.master,
        **target.master_kwargs(),
    }
    if target.sentinel_kwargs():
        host["sentinel_kwargs"] = target.sentinel_kwargs()
    return host


def redis_client(target: SentinelTarget, **options: Any) -> redis.Redis:
    """A client of the current master (the health check's)."""
    return _sentinel(target, options).master_for(target.master, **target.master_kwargs(), **options)


def _sentinel(target: SentinelTarget, options: dict[str, Any]) -> Sentinel:
    # Sentinels answer fast or not at all: the socket timeouts of the caller apply to them too.
    sentinel_kwargs = {
        key: value for key, value in options.items() if key.startswith("socket_")
    } | (target.sentinel_kwargs() or {})
    return Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_kwargs)


def _netloc(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class SentinelCachePool(SentinelConnectionPool):
    """``pool_class`` of Django's RedisCache: it builds pools with ``from_url(LOCATION)``;
    this one reads the sentinel URL and connects to whichever server is the master."""

    @classmethod
    def from_url(cls, url: str, **options: Any) -> SentinelCachePool:  # type: ignore[override]
        target = parse_sentinel_url(url)
        return cls(
            target.master,
            _sentinel(target, options),
            **target.master_kwargs(),
            **options,
        )

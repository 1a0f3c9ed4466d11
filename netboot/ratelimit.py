"""Per-source-address rate limits for the unauthenticated netboot and metadata endpoints.

A fixed-window counter in the Django cache (Redis, shared by every web process): the key names
the budget, the address and the window, so a window's count simply expires with it. The limit
is read from settings on every request ("N/s", "N/m", "N/h", "N/d"; "0" is off), so a changed
setting applies at once. Over the limit the answer is 429 with ``Retry-After`` (the seconds
until the window ends) and a plain-text reason, as iPXE and cloud-init show the body.
"""

from __future__ import annotations

import functools
import logging
import math
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Concatenate, ParamSpec

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from redis.exceptions import RedisError

log = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_RATE = re.compile(r"^\s*(\d+)\s*/\s*([smhd])\s*$")


@dataclass(frozen=True)
class Rate:
    requests: int
    period: int  # seconds


@functools.lru_cache(maxsize=16)
def parse_rate(value: str, setting: str = "rate") -> Rate | None:
    """``"120/m"`` → Rate(120, 60); ``"0"`` (or ``"0/m"``) → None, no limit."""
    text = str(value).strip()
    if text == "0":
        return None
    match = _RATE.match(text)
    if match is None:
        raise ImproperlyConfigured(
            f"{setting}={value!r}: expected N/s, N/m, N/h or N/d (or 0 for no limit)"
        )
    requests = int(match[1])
    return Rate(requests, PERIODS[match[2]]) if requests > 0 else None


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    retry_after: int = 0
    first_refusal: bool = False  # the window's first refused request, worth one log line


def hit(budget: str, source: str, rate: Rate, now: float | None = None) -> Verdict:
    """Count one request of ``source`` against ``budget``; refused once over ``rate``."""
    now = time.time() if now is None else now
    window = int(now // rate.period)
    key = f"ratelimit:{budget}:{source}:{window}"
    # Outlive the window by a second: a key that expired between add() and incr() would
    # restart the count mid-window.
    timeout = rate.period + 1
    if cache.add(key, 1, timeout=timeout):
        count = 1
    else:
        try:
            count = cache.incr(key)
        except ValueError:  # evicted after add() said it was there
            cache.add(key, 1, timeout=timeout)
            count = 1
    if count <= rate.requests:
        return Verdict(True)
    retry_after = max(1, math.ceil((window + 1) * rate.period - now))
    return Verdict(False, retry_after, first_refusal=count == rate.requests + 1)


def too_many_requests(verdict: Verdict, rate: Rate, source: str) -> HttpResponse:
    per = {1: "second", 60: "minute", 3600: "hour", 86400: "day"}.get(rate.period, "period")
    response = HttpResponse(
        f"rate limit: {source} made more than {rate.requests} requests this {per}; "
        f"retry in {verdict.retry_after} s\n",
        content_type="text/plain; charset=utf-8",
        status=429,
    )
    response["Retry-After"] = str(verdict.retry_after)
    return response


P = ParamSpec("P")
View = Callable[Concatenate[HttpRequest, P], HttpResponseBase]


def rate_limited(
    budget: str, setting: str, source_ip: Callable[[HttpRequest], str]
) -> Callable[[View[P]], View[P]]:
    """Limit a view per source address; ``source_ip`` is the view module's own way of telling
    who asked (the same address the view itself acts on)."""

    def decorate(view: View[P]) -> View[P]:
        @functools.wraps(view)
        def wrapper(request: HttpRequest, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            rate = parse_rate(getattr(settings, setting), setting)
            source = source_ip(request)
            if rate is not None and source:
                try:
                    verdict = hit(budget, source, rate)
                except (RedisError, OSError):
                    # Machines must still boot while Redis is away: count nothing, say so.
                    log.exception("rate limit %s unavailable; %s let through", budget, source)
                else:
                    if not verdict.allowed:
                        if verdict.first_refusal:
                            log.warning(
                                "rate limit %s: %s is over %s; refused for %d s",
                                budget,
                                source,
                                getattr(settings, setting),
                                verdict.retry_after,
                            )
                        return too_many_requests(verdict, rate, source)
            return view(request, *args, **kwargs)

        return wrapper

    return decorate

"""Reconnect backoff bounds, and which token the agent connects with."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from rackpilot_agent.backoff import Backoff
from rackpilot_agent.tokens import TokenStore


def test_delays_stay_within_the_doubling_cap():
    backoff = Backoff(0.5, 30.0, rng=random.Random(7))
    for attempt in range(40):
        cap = min(30.0, 0.5 * 2**attempt)
        assert backoff.cap() == cap
        assert 0.0 <= backoff.next_delay() <= cap


def test_the_cap_reaches_the_maximum_and_never_overflows():
    backoff = Backoff(0.5, 30.0)
    backoff.attempts = 10_000
    assert backoff.cap() == 30.0
    assert backoff.next_delay() <= 30.0


def test_full_jitter_spreads_over_the_whole_range():
    rng = random.Random(1)
    delays = []
    for _ in range(2000):
        backoff = Backoff(0.5, 30.0, rng=rng)
        backoff.attempts = 8  # cap 30
        delays.append(backoff.next_delay())
    assert min(delays) < 1.0
    assert max(delays) > 29.0


def test_reset_starts_over_after_a_good_connection():
    backoff = Backoff(0.5, 30.0)
    for _ in range(6):
        backoff.next_delay()
    backoff.reset()
    assert backoff.next_delay() <= 0.5


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="initial"):
        Backoff(0, 30)
    with pytest.raises(ValueError, match="initial"):
        Backoff(5, 1)


def _store(tmp_path: Path, **kwargs: object) -> TokenStore:
    values: dict = {
        "configured": "rpa_configured",
        "token_file": None,
        "state_path": tmp_path / "token.json",
    }
    values.update(kwargs)
    return TokenStore(**values)


def test_the_token_file_is_read_before_each_connection(tmp_path: Path):
    token_file = tmp_path / "token"
    store = _store(tmp_path, token_file=token_file)
    assert store.current() == "rpa_configured"  # no file yet: fall back to the setting
    token_file.write_text("rpa_first\n")
    assert store.current() == "rpa_first"
    token_file.write_text("rpa_second\n")
    assert store.current() == "rpa_second"


def test_a_renewal_is_kept_for_the_next_agent_process(tmp_path: Path):
    expires = datetime.now(UTC) + timedelta(hours=6)
    _store(tmp_path).renewed("rpa_renewed", expires)
    assert (tmp_path / "token.json").stat().st_mode & 0o777 == 0o600

    restarted = _store(tmp_path)
    assert restarted.current() == "rpa_renewed"
    assert restarted.expires_at() == expires


def test_a_new_operator_token_wins_over_an_old_renewal(tmp_path: Path):
    _store(tmp_path).renewed("rpa_renewed", datetime.now(UTC) + timedelta(hours=6))
    assert _store(tmp_path, configured="rpa_brand_new").current() == "rpa_brand_new"


def test_an_expired_renewal_is_ignored(tmp_path: Path):
    _store(tmp_path).renewed("rpa_renewed", datetime.now(UTC) - timedelta(minutes=1))
    assert _store(tmp_path).current() == "rpa_configured"


def test_renewal_is_due_ten_minutes_before_expiry(tmp_path: Path):
    now = datetime(2026, 1, 1, tzinfo=UTC)
    unknown = _store(tmp_path)
    assert unknown.seconds_until_renewal(now) is None
    known = _store(tmp_path, expires_at=now + timedelta(hours=1))
    assert known.seconds_until_renewal(now) == 50 * 60
    late = _store(tmp_path, expires_at=now + timedelta(minutes=5))
    assert late.seconds_until_renewal(now) == 0.0

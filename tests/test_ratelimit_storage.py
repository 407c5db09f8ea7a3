"""The embedded rate-limit storage counts like memory:// without starting threads."""

from __future__ import annotations

import threading

from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from portal.ratelimit_storage import SweepingMemoryStorage


def test_the_scheme_is_registered_and_counts_per_window() -> None:
    storage = storage_from_string("portal-memory://")
    assert isinstance(storage, SweepingMemoryStorage)
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("3 per minute")
    assert [limiter.hit(limit, "client") for _ in range(4)] == [True, True, True, False]
    assert limiter.hit(limit, "another client")


def test_no_thread_is_started_per_hit() -> None:
    storage = SweepingMemoryStorage()
    limiter = FixedWindowRateLimiter(storage)
    limit = parse("1000 per minute")
    before = threading.active_count()
    for n in range(200):
        limiter.hit(limit, f"client-{n % 7}")
    assert threading.active_count() <= before


def test_expired_counters_are_swept(monkeypatch) -> None:
    storage = SweepingMemoryStorage()
    storage.incr("gone", expiry=0.0)  # already expired
    storage.incr("kept", expiry=60)
    storage._next_sweep = 0.0  # due now
    storage.incr("other", expiry=60)  # a hit runs the due sweep inline
    assert "gone" not in storage.expirations
    assert set(storage.expirations) == {"kept", "other"}

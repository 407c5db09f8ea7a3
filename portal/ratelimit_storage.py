"""In-process rate-limit counters that clean up without a thread per quiet spell.

``limits``' ``memory://`` storage starts a ``threading.Timer`` to drop expired counters
whenever its previous 10 ms timer has run out, i.e. on most requests of a process that
is not flooded. ``Thread.start`` waits until the new thread runs, so on a busy machine a
request can stall for milliseconds on it (measured: about a fifth of a decision
request's time under load). Expired counters are dropped lazily on read anyway; this
storage sweeps the rest inline at most once per ``SWEEP_SECONDS`` instead.

``portal-memory://`` is the embedded default (``PORTAL_RATELIMIT_STORAGE_URI``); like
``memory://`` it counts per process. Production uses ``redis://`` (shared by all workers).
"""

from __future__ import annotations

import threading
import time
from typing import Any, ClassVar

from limits.storage import MemoryStorage


class SweepingMemoryStorage(MemoryStorage):
    # registered with ``limits`` by this class statement
    STORAGE_SCHEME: ClassVar[list[str]] = ["portal-memory"]
    SWEEP_SECONDS = 1.0

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: Any):
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)
        self.timer.cancel()  # the one timer the base class starts; none after it
        self._next_sweep = 0.0
        self._sweep_lock = threading.Lock()

    def _MemoryStorage__schedule_expiry(self) -> None:  # the base class's private hook
        now = time.monotonic()
        with self._sweep_lock:
            if now < self._next_sweep:
                return
            self._next_sweep = now + self.SWEEP_SECONDS
        self._MemoryStorage__expire_events()  # type: ignore[attr-defined]

"""The in-process worker: a daemon thread in each web process that runs the worker's rounds
(the embedded default; ``Settings.worker = "inprocess"``)."""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable

from portal.db import Database
from portal.decisions.worker import WorkerOptions, run_due

log = logging.getLogger(__name__)


class InProcessWorker:
    """A daemon thread polling the job table (one per web process)."""

    def __init__(self, db: Database, options: WorkerOptions, poll_seconds: float) -> None:
        self.db = db
        self.options = options
        self.poll_seconds = poll_seconds
        self.autostart = True
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid: int | None = None
        #: Other work on this thread after each round, each quick and never raising: the
        #: audit sealer (``portal.oversight.sealer.PeriodicSealer``).
        self.periodic: list[Callable[[], object]] = []

    def ensure_started(self) -> None:
        """Start the thread (again after a fork: threads do not survive one)."""
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._stop.clear()
            self._pid = os.getpid()
            self._thread = threading.Thread(
                target=self._run, name="explanation-worker", daemon=True
            )
            self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                claimed = run_due(self.db, self.options)
            except Exception as exc:  # keep the thread alive (e.g. database restarting)
                log.warning("explanation worker round failed: %s", type(exc).__name__)
                claimed = 0
            for task in self.periodic:
                task()
            if not claimed:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

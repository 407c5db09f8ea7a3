"""Dispatchers: who runs the worker's rounds, and how they hear of new jobs.

One interface, :class:`Dispatcher`, and one implementation per ``Settings.worker`` mode,
chosen once in ``create_app`` (:func:`from_settings`, :func:`init_app`):

``inprocess`` (:class:`InProcessDispatcher`)
    a daemon thread per web process (started on the first request, not in ``create_app``:
    CLI commands need no thread, and gunicorn forks after importing the app), woken by a
    nudge and polling every ``worker_poll_ms`` otherwise;
``celery`` (:class:`CeleryDispatcher`)
    a nudge sends one task per new job to the broker (``portal.decisions.tasks``) and marks
    it dispatched; the sweeper re-sends whatever a nudge missed;
``off`` (:class:`NoDispatcher`)
    nothing runs (tests, and ``flask jobs run`` by hand).

A nudge comes after the request's commit and is best effort: it never raises, and a job
that was never nudged is still found by the thread's poll or the Celery sweeper.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any, Protocol

from flask import Flask

from portal.db import Database, utcnow
from portal.decisions.inprocess import InProcessWorker
from portal.decisions.worker import WorkerOptions
from portal.oversight.sealer import PeriodicSealer
from portal.retention.worker import PeriodicRetention
from portal.supervision.worker import PeriodicSupervision

log = logging.getLogger(__name__)
_EXTENSION = "portal.dispatcher"


class Dispatcher(Protocol):
    """Runs (or hands on) the explanation jobs of one app."""

    def ensure_started(self) -> None:
        """Before each request: start what runs in this process, if anything (again after
        a fork)."""

    def nudge(self, job_ids: Sequence[int]) -> None:
        """After a commit: ``job_ids`` are new (best effort; never raises)."""


class NoDispatcher:
    """``worker = "off"``: jobs wait for ``flask jobs run`` (or a test's ``run_due``)."""

    def ensure_started(self) -> None:
        pass

    def nudge(self, job_ids: Sequence[int]) -> None:
        pass


class InProcessDispatcher:
    """``worker = "inprocess"``: the web process's own worker thread."""

    def __init__(self, worker: InProcessWorker) -> None:
        self.worker = worker

    def ensure_started(self) -> None:
        if self.worker.autostart:
            self.worker.ensure_started()

    def nudge(self, job_ids: Sequence[int]) -> None:
        if job_ids:
            self.worker.wake()


class CeleryDispatcher:
    """``worker = "celery"``: one task per new job on the broker."""

    def __init__(self, db: Database, broker_url: str) -> None:
        self.db = db
        self.broker_url = broker_url

    def ensure_started(self) -> None:
        pass

    def nudge(self, job_ids: Sequence[int]) -> None:
        if not job_ids:
            return
        from portal.decisions.tasks import mark_dispatched, send

        try:
            sent = send(self.broker_url, job_ids)
            if sent:
                with self.db.transaction() as session:
                    mark_dispatched(session, sent, utcnow())
        except Exception as exc:
            log.warning("dispatch failed: %s", type(exc).__name__)


def from_settings(settings: Any, db: Database) -> Dispatcher:
    """The dispatcher of ``settings.worker`` (``inprocess``, ``celery`` or ``off``)."""
    if settings.worker == "inprocess":
        options = WorkerOptions.from_settings(settings)
        worker = InProcessWorker(db, options, settings.worker_poll_ms / 1000)
        # The audit sealer rides on the worker's thread (with Celery: a beat task).
        worker.periodic.append(PeriodicSealer.from_settings(db, settings))
        worker.periodic.append(PeriodicRetention.from_settings(db, settings))
        # So do the supervision aggregates and the chain's verification (portal/supervision).
        worker.periodic.append(PeriodicSupervision(db, settings))
        return InProcessDispatcher(worker)
    if settings.worker == "celery":
        return CeleryDispatcher(db, settings.celery_broker_url)
    return NoDispatcher()


def init_app(app: Flask, dispatcher: Dispatcher) -> None:
    """Install ``dispatcher`` as the app's (``create_app`` calls this once)."""
    app.extensions[_EXTENSION] = dispatcher
    app.before_request(dispatcher.ensure_started)


def get_dispatcher(app: Flask) -> Dispatcher:
    return app.extensions[_EXTENSION]  # type: ignore[no-any-return]


def get_worker(app: Flask) -> InProcessWorker | None:
    """The app's worker thread, when it runs one (``inprocess``)."""
    dispatcher = get_dispatcher(app)
    return dispatcher.worker if isinstance(dispatcher, InProcessDispatcher) else None

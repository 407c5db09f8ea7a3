"""Celery: explanation jobs on worker processes, for scale.

The broker carries only a *nudge* (a job id); the ``job`` row stays the source of truth.
After the request commits, the web process sends ``portal.explain`` for each new job and
marks it ``dispatched_at`` (``portal.decisions.dispatch.CeleryDispatcher``). If the broker
is down the decision is still accepted: the send fails quietly, ``dispatched_at`` stays
empty, and the sweeper (``flask jobs sweep --loop``, no celery beat needed) re-sends every
due pending job whose dispatch is missing or old, once the broker is back. A job sent
twice is harmless: workers claim jobs with a lease.

Worker processes: ``celery -A portal.decisions.tasks worker --pool=solo -c 1`` with the
same ``PORTAL_*`` environment as the web app (database, keys, broker).
"""

from __future__ import annotations

import datetime as dt
import importlib
import logging
from collections.abc import Sequence
from typing import Any

from celery import Celery
from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from portal.db import Database, utcnow
from portal.decisions.claiming import any_due_of_kind
from portal.decisions.models import DISPATCHED_KINDS, EXPORT_PDF, Job
from portal.decisions.worker import WorkerOptions, job_handler, register_job_handler, run_due
from portal.oversight.tasks import register_audit_sealer
from portal.retention.tasks import register_retention
from portal.supervision.tasks import register_supervision

log = logging.getLogger(__name__)
EXPLAIN_TASK = "portal.explain"
#: A job created this recently is left to its own nudge, which may be on its way.
DISPATCH_GRACE_SECONDS = 5


def _conf(broker_url: str) -> dict[str, Any]:
    return {
        "broker_url": broker_url,
        "task_ignore_result": True,
        "task_acks_late": True,
        "worker_prefetch_multiplier": 1,
        "broker_connection_retry_on_startup": True,
        "broker_connection_timeout": 2,
        # fail fast when the broker is down instead of blocking a request thread
        "broker_transport_options": {
            "socket_connect_timeout": 2,
            "socket_timeout": 5,
            "max_retries": 0,
        },
        "task_serializer": "json",
        "accept_content": ["json"],
    }


def make_celery(broker_url: str) -> Celery:
    """A Celery app for sending (web process) or running (worker) explanation tasks."""
    app = Celery("forklaringsportalen", set_as_current=False)
    app.conf.update(_conf(broker_url))
    return app


# --- sending ----------------------------------------------------------------------------------

_SENDERS: dict[str, Celery] = {}


def _sender(broker_url: str) -> Celery:
    if broker_url not in _SENDERS:
        _SENDERS[broker_url] = make_celery(broker_url)
    return _SENDERS[broker_url]


def send(broker_url: str, job_ids: Sequence[int]) -> list[int]:
    """Send one nudge per job; returns the ids that reached the broker."""
    sender = _sender(broker_url)
    sent: list[int] = []
    for job_id in job_ids:
        try:
            sender.send_task(EXPLAIN_TASK, args=[job_id], retry=False)
        except Exception as exc:  # broker down: the sweeper re-sends later
            log.warning("could not dispatch job %s: %s", job_id, type(exc).__name__)
            break
        sent.append(job_id)
    return sent


def mark_dispatched(session: Session, job_ids: Sequence[int], now: dt.datetime) -> None:
    if job_ids:
        session.execute(update(Job).where(Job.id.in_(job_ids)).values(dispatched_at=now))


def sweep(
    db: Database, broker_url: str, *, redispatch_seconds: int, now: dt.datetime | None = None
) -> int:
    """Re-send due pending jobs never dispatched (or dispatched long ago) and jobs whose
    lease ran out; returns how many were sent."""
    now = now or utcnow()
    with db.transaction() as session:
        job_ids = session.scalars(
            select(Job.id)
            .where(
                Job.kind.in_(DISPATCHED_KINDS),
                or_(
                    and_(
                        Job.status == "pending",
                        Job.next_attempt_at <= now,
                        or_(
                            and_(
                                Job.dispatched_at.is_(None),
                                Job.created_at
                                <= now - dt.timedelta(seconds=DISPATCH_GRACE_SECONDS),
                            ),
                            Job.dispatched_at <= now - dt.timedelta(seconds=redispatch_seconds),
                        ),
                    ),
                    and_(Job.status == "running", Job.locked_until < now),
                ),
            )
            .order_by(Job.next_attempt_at, Job.id)
            .limit(1000)
        ).all()
    if not job_ids:
        return 0
    sent = send(broker_url, job_ids)
    with db.transaction() as session:
        mark_dispatched(session, sent, now)
    return len(sent)


# --- worker side -------------------------------------------------------------------------------

_worker_db: Database | None = None


def _database() -> tuple[Database, Any]:
    """The worker process's database and settings, from the ``PORTAL_*`` environment."""
    global _worker_db
    from portal.config import Settings
    from portal.crypto import KeyRing, install_key_ring

    settings = Settings.load()
    if _worker_db is None:
        settings.validate()
        install_key_ring(KeyRing.from_config(settings.encryption_key))
        _worker_db = Database(settings.database_url)
        register_job_handler(EXPORT_PDF, _exports_on_demand)
    return _worker_db, settings


def _exports_on_demand(
    db: Database, job_ids: Sequence[int] | None, options: WorkerOptions, now: dt.datetime
) -> int:
    """The worker's ``export-pdf`` round: a large "Mine data" PDF renders with the Flask
    app's templates, so the app is built (once, and only when such a job is due: the
    explanation tasks never pay for it); building it registers the real handler
    (``portal.cases.exports``) in place of this one."""
    with db.reading() as session:
        if not any_due_of_kind(session, EXPORT_PDF, now, job_ids):
            return 0
    # By name, at run time: the package imports this module (its dispatcher sends the
    # nudges), so a static import of the factory would make an import cycle of them.
    importlib.import_module("portal").create_app()
    handler = job_handler(EXPORT_PDF)
    if handler is None or handler is _exports_on_demand:  # pragma: no cover - defensive
        return 0
    return handler(db, job_ids, options, now)


#: The worker's app (``celery -A portal.decisions.tasks worker``). Its broker comes from
#: ``PORTAL_CELERY_BROKER_URL`` when its configuration is first read, not at import.
celery = Celery("forklaringsportalen", set_as_current=False)


@celery.on_configure.connect
def _configure_from_environment(sender: Celery, **_: Any) -> None:
    from portal.config import Settings

    sender.conf.update(_conf(Settings.load().celery_broker_url))


# The audit sealer's periodic task and its celery beat entry (portal.oversight.tasks).
register_audit_sealer(celery, _database)
# Deleting expired personal data on a schedule (portal.retention.tasks).
register_retention(celery, _database)
# The supervision aggregates and the chain's verification (portal.supervision.tasks).
register_supervision(celery, _database)


@celery.task(name=EXPLAIN_TASK, acks_late=True)
def explain_job(job_id: int) -> int:
    """Claim the job (if still due) and store its result; returns jobs processed. An
    explanation queues its counterfactual search as a follow-up job, sent on from here."""
    db, settings = _database()
    processed = run_due(db, WorkerOptions.from_settings(settings), job_ids=[job_id])
    if processed:
        send_follow_ups(db, settings.celery_broker_url, job_id)
    return processed


def send_follow_ups(db: Database, broker_url: str, job_id: int) -> int:
    """Send the not yet dispatched pending jobs of the same decision (best effort: the
    sweeper sends whatever this misses)."""
    with db.transaction() as session:
        decision_id = select(Job.decision_id).where(Job.id == job_id).scalar_subquery()
        follow_ups = session.scalars(
            select(Job.id).where(
                Job.decision_id == decision_id,
                Job.id != job_id,
                Job.status == "pending",
                Job.dispatched_at.is_(None),
            )
        ).all()
    sent = send(broker_url, follow_ups) if follow_ups else []
    if sent:
        with db.transaction() as session:
            mark_dispatched(session, sent, utcnow())
    return len(sent)

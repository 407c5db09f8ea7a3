"""The sealer in the worker, on a committed database: appenders never wait for each other,
the in-process worker seals within seconds, the Celery task and its beat entry."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from celery import Celery
from sqlalchemy import func, select

from portal import create_app
from portal.db import Database
from portal.db_session import get_db
from portal.migrate import upgrade
from portal.oversight.audit import Actor, record_event, verify_chain
from portal.oversight.models import AuditEvent, AuditSeal
from portal.oversight.tasks import BEAT_ENTRY, SEAL_TASK, register_audit_sealer

ACTOR = Actor(kind="worker", ref="test", role="worker")
#: Generous against the indefinite wait for the old global chain lock; no speed gate.
BOUND_SECONDS = 5


@pytest.fixture(scope="module")
def inprocess(app_overrides, committed_database_url) -> Iterator[Any]:
    """An app with the in-process worker (and so the sealer) on its own migrated database."""
    url = committed_database_url("_sealer")
    app = create_app(
        {**app_overrides, "database_url": url, "worker": "inprocess", "worker_poll_ms": 100}
    )
    with get_db(app).engine.begin() as conn:
        upgrade(conn)
    yield app
    from portal.decisions.dispatch import get_worker

    worker = get_worker(app)
    if worker is not None:
        worker.stop()
    get_db(app).engine.dispose()


def append(db: Database, action: str) -> int:
    with db.transaction() as session:
        return record_event(session, ACTOR, action, purpose="test").id


def test_two_appenders_do_not_wait_for_each_other(inprocess) -> None:
    db = get_db(inprocess)
    if db.is_sqlite:
        pytest.skip("SQLite has one writer at a time by design: only its statements wait")
    holder = db.session_factory()
    try:
        record_event(holder, ACTOR, "test.held-open", purpose="test")  # transaction open
        done: list[float] = []

        def other() -> None:
            started = time.monotonic()
            append(db, "test.meanwhile")
            done.append(time.monotonic() - started)

        thread = threading.Thread(target=other, daemon=True)
        thread.start()
        thread.join(BOUND_SECONDS)
        assert done, "the second appender waited for the first one's transaction"
    finally:
        holder.commit()
        holder.close()
    thread.join(30)


def test_the_inprocess_worker_seals_new_events_within_seconds(inprocess) -> None:
    from portal.decisions.dispatch import get_worker

    db = get_db(inprocess)
    event_id = append(db, "test.to-seal")
    worker = get_worker(inprocess)
    assert worker is not None
    worker.ensure_started()
    deadline = time.monotonic() + 15
    sealed = None
    while sealed is None and time.monotonic() < deadline:
        with db.reading() as session:
            sealed = session.scalar(select(AuditSeal.seq).where(AuditSeal.event_id == event_id))
        time.sleep(0.1)
    assert sealed is not None, "not sealed within 15 s"
    with db.reading() as session:
        report = verify_chain(session, key=inprocess.config["SETTINGS"].audit_checkpoint_key)
    assert report.ok, report.problem
    assert report.checkpoints >= 1


def test_the_celery_task_seals_and_has_a_beat_entry(inprocess) -> None:
    db = get_db(inprocess)
    settings = inprocess.config["SETTINGS"]
    app = Celery("test", set_as_current=False)
    register_audit_sealer(app, lambda: (db, settings))
    event_id = append(db, "test.by-celery")
    app.tasks[SEAL_TASK].run()
    with db.reading() as session:
        assert session.scalar(select(AuditSeal.seq).where(AuditSeal.event_id == event_id))
        unsealed = session.scalar(
            select(func.count()).select_from(AuditEvent).where(AuditEvent.id == event_id)
        )
    assert unsealed == 1
    entry = app.conf.beat_schedule[BEAT_ENTRY]
    assert entry["task"] == SEAL_TASK
    assert entry["schedule"] == float(settings.audit_seal_seconds)


def test_the_worker_app_registers_the_sealing_task() -> None:
    from portal.decisions.tasks import celery

    assert SEAL_TASK in celery.tasks
    assert celery.conf.beat_schedule[BEAT_ENTRY]["task"] == SEAL_TASK

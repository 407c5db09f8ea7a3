"""The ``export-pdf`` job kind in the shared job machinery: the Celery sweeper re-sends it
like the explanation jobs, a Celery task for its id runs it (the same ``run_due``), and the
explanation claim never takes it."""

from __future__ import annotations

import datetime as dt

from portal.cases import exports
from portal.db import utcnow
from portal.db_session import get_db
from portal.decisions import tasks
from portal.decisions.claiming import claim, claim_kind
from portal.decisions.models import EXPORT_PDF, Job
from portal.decisions.worker import WorkerOptions, register_job_handler, run_due


def add_export_job(session, created: dt.datetime) -> Job:
    job = Job(kind=EXPORT_PDF, next_attempt_at=created, created_at=created)
    session.add(job)
    session.commit()  # releases the test's savepoint; the outer transaction rolls back
    return job


def test_the_sweeper_resends_an_undispatched_export_job(app, session, monkeypatch) -> None:
    job = add_export_job(session, utcnow() - dt.timedelta(minutes=5))
    sent: list[int] = []
    monkeypatch.setattr(tasks, "send", lambda _url, ids: sent.extend(ids) or list(ids))
    assert tasks.sweep(get_db(app), "redis://unused", redispatch_seconds=60) == 1
    assert sent == [job.id]
    session.expire_all()
    assert session.get(Job, job.id).dispatched_at is not None


def test_the_explanation_claim_leaves_export_jobs_alone(app, session) -> None:
    job = add_export_job(session, utcnow() - dt.timedelta(seconds=1))
    now = utcnow()
    assert claim(session, limit=10, lease_seconds=60, now=now) == []
    assert claim_kind(session, EXPORT_PDF, limit=10, lease_seconds=60, now=now) == [job.id]
    # claimed: leased, so not claimable again until the lease ends
    assert claim_kind(session, EXPORT_PDF, limit=10, lease_seconds=60, now=now) == []
    later = now + dt.timedelta(seconds=61)
    assert claim_kind(session, EXPORT_PDF, limit=10, lease_seconds=60, now=later) == [job.id]


def test_a_task_for_an_export_job_id_runs_its_handler(app, session) -> None:
    """What ``portal.explain`` does with the id of a nudge: ``run_due(job_ids=[id])``, whose
    round runs the registered handlers, given only that id."""
    job = add_export_job(session, utcnow() - dt.timedelta(seconds=1))
    seen: list[object] = []

    def handler(_db, job_ids, _options, _now) -> int:
        seen.append(list(job_ids))
        return 1

    register_job_handler(EXPORT_PDF, handler)
    try:
        assert run_due(get_db(app), WorkerOptions(), job_ids=[job.id]) == 1
    finally:
        register_job_handler(EXPORT_PDF, exports.handler(app))
    assert seen == [[job.id]]

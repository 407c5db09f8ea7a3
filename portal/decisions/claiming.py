"""Which jobs are due, and taking them: a worker *claims* due jobs (status ``running`` with a
lease in ``locked_until``, so a crashed worker's jobs become due again when the lease ends),
and ``flask jobs retry`` makes failed jobs due again.

Fairness: jobs are taken oldest first, but round-robin across sending systems, so one
system's flood cannot starve the others; explanations before counterfactual searches.
"""

from __future__ import annotations

import datetime as dt
from collections import deque
from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select, update
from sqlalchemy.orm import Session

from portal.db import utcnow
from portal.decisions.models import COUNTERFACTUAL, EXPLAIN, JOB_KINDS, Decision, Job
from portal.decisions.results import set_counterfactual
from portal.registry.models import System


def _waiting(now: dt.datetime) -> Any:
    return and_(Job.status == "pending", Job.next_attempt_at <= now)


def _lapsed(now: dt.datetime) -> Any:
    """Running, but the lease ran out: the worker that claimed it died."""
    return and_(Job.status == "running", Job.locked_until < now)


def _due(now: dt.datetime) -> Any:
    return and_(Job.kind.in_(JOB_KINDS), or_(_waiting(now), _lapsed(now)))


def _oldest_due(
    session: Session,
    system_id: int,
    kind: str,
    limit: int,
    now: dt.datetime,
    job_ids: Sequence[int] | None,
) -> list[Any]:
    """A system's oldest due jobs of one kind, as (id, kind) rows, at most ``limit``.

    Two index ranges of ``ix_job_claim`` (system, status, kind, next attempt, id): waiting
    jobs in order, read only as far as ``limit``; and running jobs whose lease ran out (a
    worker died), which are few. So a claim costs the same with 100 or 1,000,000 waiting.
    """
    only = [] if job_ids is None else [Job.id.in_(job_ids)]

    def oldest(state: Any) -> Any:
        return (
            select(Job.id, Job.kind, Job.next_attempt_at)
            .where(Job.system_id == system_id, Job.kind == kind, state, *only)
            .order_by(Job.next_attempt_at, Job.id)
            .limit(limit)
        )

    rows = [*session.execute(oldest(_waiting(now))), *session.execute(oldest(_lapsed(now)))]
    rows.sort(key=lambda row: (row.next_attempt_at, row.id))
    return [(row.id, row.kind) for row in rows[:limit]]


def claim(
    session: Session,
    *,
    limit: int,
    lease_seconds: int,
    now: dt.datetime,
    job_ids: Sequence[int] | None = None,
    max_searches: int | None = None,
) -> list[int]:
    """Claim up to ``limit`` due jobs (or the given ones, if due) for this worker, of them
    at most ``max_searches`` counterfactual searches.

    The conditional UPDATE is what makes a claim exclusive: a job another worker claimed
    first no longer matches ``_due`` and is not returned.
    """
    searches_cap = limit if max_searches is None else max_searches
    anything_due = select(Job.id).where(_due(now)).limit(1)  # (by index: an idle poll is cheap)
    if job_ids is not None:
        anything_due = anything_due.where(Job.id.in_(job_ids))
    if session.scalar(anything_due) is None:
        return []
    # Per sending system, its oldest due jobs (explanations first); then round-robin.
    by_system: dict[int, deque[Any]] = {}  # rows of (id, kind)
    for system_id in session.scalars(select(System.id).order_by(System.id)).all():
        due = _oldest_due(session, system_id, EXPLAIN, limit, now, job_ids)
        if len(due) < limit and searches_cap:
            due += _oldest_due(session, system_id, COUNTERFACTUAL, searches_cap, now, job_ids)
        if due:
            by_system[system_id] = deque(due)
    picked: list[int] = []
    searches = 0
    queues = list(by_system.values())
    while queues and len(picked) < limit:  # round-robin over systems, oldest first in each
        for queue in list(queues):
            job_id, kind = queue.popleft()
            if kind == COUNTERFACTUAL:
                if searches >= searches_cap:  # the rest of this queue are searches too
                    queues.remove(queue)
                    continue
                searches += 1
            picked.append(job_id)
            if not queue:
                queues.remove(queue)
            if len(picked) >= limit:
                break
    if not picked:
        return []
    return _take(session, picked, _due(now), lease_seconds, now)


def _take(
    session: Session, picked: Sequence[int], state: Any, lease_seconds: int, now: dt.datetime
) -> list[int]:
    """Lease the ``picked`` jobs still in ``state``: the conditional UPDATE is what makes
    a claim exclusive (a job another worker took first no longer matches)."""
    claimed = session.scalars(
        update(Job)
        .where(Job.id.in_(picked), state)
        .values(
            status="running",
            attempts=Job.attempts + 1,
            locked_until=now + dt.timedelta(seconds=lease_seconds),
        )
        .returning(Job.id)
    ).all()
    return sorted(claimed)


def _kind_due(kind: str, now: dt.datetime) -> Any:
    return and_(Job.system_id.is_(None), Job.kind == kind, or_(_waiting(now), _lapsed(now)))


def any_due_of_kind(
    session: Session, kind: str, now: dt.datetime, job_ids: Sequence[int] | None = None
) -> bool:
    """Whether a job of ``kind`` (one of no sending system) is due, among ``job_ids``."""
    query = select(Job.id).where(_kind_due(kind, now)).limit(1)
    if job_ids is not None:
        query = query.where(Job.id.in_(job_ids))
    return session.scalar(query) is not None


def claim_kind(
    session: Session,
    kind: str,
    *,
    limit: int,
    lease_seconds: int,
    now: dt.datetime,
    job_ids: Sequence[int] | None = None,
) -> list[int]:
    """Claim up to ``limit`` due jobs of a kind that belongs to no sending system (an
    ``export-pdf``), oldest first, with the same lease as :func:`claim`."""
    state = _kind_due(kind, now)
    only = [] if job_ids is None else [Job.id.in_(job_ids)]
    picked = session.scalars(
        select(Job.id).where(state, *only).order_by(Job.next_attempt_at, Job.id).limit(limit)
    ).all()
    if not picked:
        return []
    return _take(session, picked, state, lease_seconds, now)


def retry_jobs(
    session: Session, *, decision_public_id: str | None = None, all_failed: bool = False
) -> int:
    """Make failed jobs due again (attempts reset); the decisions go back to pending."""
    query = select(Job).join(Decision, Decision.id == Job.decision_id).where(Job.status == "failed")
    if decision_public_id is not None:
        query = query.where(Decision.public_id == decision_public_id)
    elif not all_failed:
        return 0
    jobs = session.scalars(query).all()
    now = utcnow()
    for job in jobs:
        job.status = "pending"
        job.attempts = 0
        job.next_attempt_at = now
        job.locked_until = None
        job.finished_at = None
        job.dispatched_at = None
        if job.kind == COUNTERFACTUAL:
            set_counterfactual(session, job.decision_id, counterfactual_status="pending")
            continue
        session.execute(
            update(Decision)
            .where(Decision.id == job.decision_id)
            .values(status="pending", status_reason=None)
        )
    session.flush()
    return len(jobs)

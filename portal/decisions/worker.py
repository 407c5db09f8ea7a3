"""Computing explanations off the request path.

The ``job`` table is the source of truth (an outbox written with the decision). A worker
*claims* due jobs in its own short transaction (status ``running`` with a lease in
``locked_until``, so a crashed worker's jobs become due again when the lease ends), computes
the explanations without holding a transaction, then stores a group's results (jobs done,
explanation rows, decisions ``ready`` with the recomputed output and mismatch flag, audit
events) in one short transaction, a set-based statement per table.

Two kinds of job: ``explain`` (the explanation; the decision becomes ``ready``) and its
follow-up ``counterfactual`` (the search for "what could have changed the result", many
model evaluations), queued when the explanation is stored and claimed only after waiting
explanations (and at most ``searches_per_claim`` of them in one claim), so a citizen never
waits long for a search to read their explanation. A failed search marks only the
explanation's ``counterfactual_status``, never the decision.

Fairness: jobs are taken oldest first, but round-robin across sending systems, so one
system's flood cannot starve the others; a claim takes at most ``batch_size`` jobs.
Rows of one model version are explained in one vectorised call.

A failing job is retried with exponential back-off; after ``max_attempts`` it is ``failed``
with the reason, and the decision shows ``failed`` (``flask jobs retry`` starts it again).

Modes (``Settings.worker``): ``inprocess`` runs :class:`InProcessWorker` (a daemon thread per
web process, started on the first request), ``celery`` sends a nudge per job after commit
(see ``portal.decisions.tasks``), ``off`` does nothing (tests call :func:`run_due`).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import threading
from collections import defaultdict, deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

from flask import Flask
from sqlalchemy import (
    LargeBinary,
    Table,
    and_,
    bindparam,
    insert,
    or_,
    select,
    tuple_,
    update,
)
from sqlalchemy.orm import Session

from portal.db import Database, EncryptedJSON, utcnow
from portal.decisions.explanations import build_payload, explanation_values
from portal.decisions.models import Decision, Explanation, Job, pending_job_values
from portal.oversight.audit import WORKER, PendingEvent, record_event, record_events
from portal.registry.models import ModelArtifact, ModelVersion, System

log = logging.getLogger(__name__)
_EXTENSION = "portal.worker"
MAX_BACKOFF_SECONDS = 3600
#: The explanation itself (the decision becomes ready when it is stored).
EXPLAIN = "explain"
#: "What could have changed the result": a search of many model evaluations, so it runs as a
#: follow-up job after the explanation is stored, and explanations are claimed first.
COUNTERFACTUAL = "counterfactual"
JOB_KINDS = (EXPLAIN, COUNTERFACTUAL)


@dataclass(frozen=True)
class WorkerOptions:
    batch_size: int = 128  # as ``Settings.worker_batch_size``
    lease_seconds: int = 300
    backoff_seconds: float = 2.0
    counterfactuals: bool = True
    counterfactual_attempts: int = 3
    #: At most this many searches in one claim (each takes tens of ms): explanations that
    #: arrive meanwhile wait for the claim's searches, however large ``batch_size`` is.
    searches_per_claim: int = 32

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerOptions:
        return cls(
            batch_size=settings.worker_batch_size,
            lease_seconds=settings.job_lease_seconds,
            backoff_seconds=float(settings.job_backoff_seconds),
            counterfactuals=settings.explanation_counterfactuals,
        )


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
    first no longer matches ``_due`` and is not returned. So the due jobs may be looked up
    in a read phase (``begin_read_phase``): the write lock is taken for the UPDATE only.
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
    claimed = session.scalars(
        update(Job)
        .where(Job.id.in_(picked), _due(now))
        .values(
            status="running",
            attempts=Job.attempts + 1,
            locked_until=now + dt.timedelta(seconds=lease_seconds),
        )
        .returning(Job.id)
    ).all()
    return sorted(claimed)


# --- loading models ---------------------------------------------------------------------------

_BUNDLES: Any = None


def _bundle(session: Session, model_version_id: int) -> Any:
    """The ``explainers.ModelBundle`` of a version, loaded once per process (LRU)."""
    global _BUNDLES
    from explainers import LRUCache, ModelBundle

    if _BUNDLES is None:
        _BUNDLES = LRUCache(maxsize=8)
    sha = session.scalar(
        select(ModelVersion.artifact_sha256).where(ModelVersion.id == model_version_id)
    )

    def build() -> Any:
        row = session.execute(
            select(ModelVersion.manifest, ModelArtifact.artifact, ModelArtifact.background)
            .join(ModelVersion.files)
            .where(ModelVersion.id == model_version_id)
        ).one()
        return ModelBundle.from_bytes(row.artifact, row.manifest, row.background)

    return _BUNDLES.get_or_build((model_version_id, sha), build)


# --- computing ---------------------------------------------------------------------------------


@dataclass
class _Work:
    job_id: int
    kind: str
    attempt: int  # the job's attempts after this worker's claim: whose claim it is
    system_id: int
    decision_id: int
    public_id: str
    subject_key: str
    model_version_id: int
    features: dict[str, Any]
    reported_output: float


@dataclass
class _Done:
    work: _Work
    payload: dict[str, Any]
    record: Any  # explainers.Explanation


def _safe_reason(exc: BaseException) -> str:
    """An error text fit for storage and logs: explainers' own errors carry codes and paths
    only; anything else is reduced to its type (its text might hold feature values)."""
    from explainers import ExplainerError

    if isinstance(exc, ExplainerError):
        return f"{exc.code}: {exc}"[:1000]
    return type(exc).__name__


def _explain_group(bundle: Any, works: list[_Work], options: WorkerOptions) -> list[_Done]:
    from explainers import explain_rows

    rows = [w.features for w in works]
    results = explain_rows(bundle, rows, reported_outputs=[w.reported_output for w in works])
    members = {f.key: f.consideration for f in bundle.manifest.features}
    status = "pending" if options.counterfactuals else "off"
    return [
        _Done(work, build_payload(result.to_dict(), None, members, status), result)
        for work, result in zip(works, results, strict=True)
    ]


def _counterfactual_group(bundle: Any, works: list[_Work], _options: WorkerOptions) -> list[_Done]:
    from explainers import counterfactual

    return [
        _Done(work, {"counterfactual": counterfactual(bundle, work.features).to_dict()}, None)
        for work in works
    ]


def _load_work(db: Database, job_ids: Sequence[int]) -> list[_Work]:
    with db.transaction() as session:
        rows = session.execute(
            select(
                Job.id,
                Job.kind,
                Job.attempts,
                Decision.system_id,
                Decision.id,
                Decision.public_id,
                Decision.subject_key,
                Decision.model_version_id,
                Decision.features,  # the only encrypted column needed
                Decision.reported_output,
            )
            .join(Decision, Decision.id == Job.decision_id)
            .where(Job.id.in_(job_ids))
            .order_by(Job.id)
        ).all()
        return [_Work(*row) for row in rows]  # (the columns in _Work's order)


# --- storing: a group's results with a few set-based statements, in one transaction ----------
#
# The parameters are built first (payloads encrypted, events described), outside the store
# transaction: on SQLite its first statement takes the database's only write lock, which
# ingest requests wait for, so only the statements and the audit chain's hashing run under it.

_JOB = cast(Table, Job.__table__)
_DECISION = cast(Table, Decision.__table__)
_EXPLANATION = cast(Table, Explanation.__table__)
_PAYLOAD_TYPE = cast(EncryptedJSON, _EXPLANATION.c.payload.type)

#: Takes the payload encrypted already (by ``_PAYLOAD_TYPE``, in ``_explanation_rows``).
_INSERT_EXPLANATION = insert(_EXPLANATION).values(
    payload=bindparam("payload_ciphertext", type_=LargeBinary())
)
_DECISION_READY = (
    update(_DECISION)
    .where(_DECISION.c.id == bindparam("decision_id_"))
    .values(
        status="ready",
        status_reason=None,
        recomputed_output=bindparam("recomputed_output_"),
        output_mismatch=bindparam("output_mismatch_"),
    )
)
_EXPLANATION_PAYLOAD = (
    update(_EXPLANATION)
    .where(_EXPLANATION.c.id == bindparam("explanation_id_"))
    .values(payload=bindparam("payload_", type_=_PAYLOAD_TYPE))
)


@dataclass(frozen=True)
class _ExplanationRows:
    """One explanation's parameters for its group's statements."""

    work: _Work
    explanation: dict[str, Any]
    decision: dict[str, Any]
    follow_up: dict[str, Any] | None
    event: PendingEvent


def _explanation_rows(done: _Done, now: dt.datetime, options: WorkerOptions) -> _ExplanationRows:
    work, record = done.work, done.record
    explanation = explanation_values(work.decision_id, done.payload, record, created_at=now)
    explanation["payload_ciphertext"] = _PAYLOAD_TYPE.process_bind_param(
        explanation.pop("payload"), None
    )
    flag_codes = explanation["flags"]
    follow_up = None
    if options.counterfactuals:
        follow_up = pending_job_values(
            COUNTERFACTUAL,
            decision_id=work.decision_id,
            system_id=work.system_id,
            max_attempts=options.counterfactual_attempts,
            now=now,
        )
    return _ExplanationRows(
        work=work,
        explanation=explanation,
        decision={
            "decision_id_": work.decision_id,
            "recomputed_output_": float(record.presentation.output),
            "output_mismatch_": "output-mismatch" in flag_codes,
        },
        follow_up=follow_up,
        event=PendingEvent(
            WORKER,
            "explanation.computed",
            purpose="explanation",
            decision_public_id=work.public_id,
            subject_key=work.subject_key,
            details={
                "explainer": record.explainer,
                "flags": list(flag_codes),
                "additivity_error": record.additivity_error,
            },
        ),
    )


def _finish(session: Session, works: list[_Work], now: dt.datetime) -> set[int]:
    """Mark claimed jobs done; returns the ids marked. A job whose lease was lost is left
    out, whether it finished elsewhere (no longer running) or another worker claimed it
    again and is still at it (its attempts moved on): its result must not be stored."""
    if not works:
        return set()
    return set(
        session.scalars(
            update(_JOB)
            .where(
                tuple_(_JOB.c.id, _JOB.c.attempts).in_([(w.job_id, w.attempt) for w in works]),
                _JOB.c.status == "running",
            )
            .values(status="done", finished_at=now, locked_until=None, last_error=None)
            .returning(_JOB.c.id)
        ).all()
    )


def _store_explanations(session: Session, rows: list[_ExplanationRows], now: dt.datetime) -> int:
    """Store a group's explanations: jobs done, follow-up searches queued, explanation rows,
    decisions ready, audit events; a statement each (Core, no unit-of-work flush)."""
    finished = _finish(session, [r.work for r in rows], now)
    rows = [r for r in rows if r.work.job_id in finished]
    if not rows:
        return 0
    follow_ups = [r.follow_up for r in rows if r.follow_up is not None]
    if follow_ups:
        session.execute(insert(_JOB), follow_ups)
    session.execute(_INSERT_EXPLANATION, [r.explanation for r in rows])
    session.execute(_DECISION_READY, [r.decision for r in rows])
    record_events(session, [r.event for r in rows])
    return len(rows)


def _set_counterfactual(session: Session, decision_id: int, **changes: Any) -> None:
    explanation = session.scalars(
        select(Explanation).where(Explanation.decision_id == decision_id)
    ).one_or_none()
    if explanation is not None:  # a new dict: the encrypted column sees the change
        explanation.payload = {**explanation.payload, **changes}


def _store_counterfactuals(session: Session, done: list[_Done], now: dt.datetime) -> int:
    """Store a group's searches in the payloads of their explanations (read, then one
    UPDATE for all); the searches themselves took far longer than this."""
    finished = _finish(session, [d.work for d in done], now)
    done = [d for d in done if d.work.job_id in finished]
    if not done:
        return 0
    stored = session.execute(
        select(_EXPLANATION.c.decision_id, _EXPLANATION.c.id, _EXPLANATION.c.payload).where(
            _EXPLANATION.c.decision_id.in_([d.work.decision_id for d in done])
        )
    ).all()
    explanations = {decision_id: (row_id, payload) for decision_id, row_id, payload in stored}
    changes = []
    for d in done:
        if d.work.decision_id not in explanations:
            continue
        row_id, payload = explanations[d.work.decision_id]
        payload = {
            **payload,
            "counterfactual": d.payload["counterfactual"],
            "counterfactual_status": "done",
        }
        changes.append({"explanation_id_": row_id, "payload_": payload})
    if changes:
        session.execute(_EXPLANATION_PAYLOAD, changes)
    return len(done)


def _fail(
    session: Session, work: _Work, reason: str, options: WorkerOptions, now: dt.datetime
) -> None:
    job = session.get(Job, work.job_id)
    if job is None or job.status != "running" or job.attempts != work.attempt:
        return  # finished elsewhere or claimed again: the other worker decides
    job.last_error = reason
    job.locked_until = None
    if job.attempts >= job.max_attempts and job.kind == COUNTERFACTUAL:
        # The explanation stands; the page says the search could not be done.
        job.status = "failed"
        job.finished_at = now
        _set_counterfactual(session, work.decision_id, counterfactual_status="failed")
    elif job.attempts >= job.max_attempts:
        job.status = "failed"
        job.finished_at = now
        session.execute(
            update(Decision)
            .where(Decision.id == work.decision_id)
            .values(status="failed", status_reason=reason)
        )
        record_event(
            session,
            WORKER,
            "explanation.failed",
            purpose="explanation",
            decision_public_id=work.public_id,
            subject_key=work.subject_key,
            details={"attempts": job.attempts, "reason": reason},
        )
    else:
        delay = min(options.backoff_seconds * 2 ** (job.attempts - 1), MAX_BACKOFF_SECONDS)
        job.status = "pending"
        job.next_attempt_at = now + dt.timedelta(seconds=delay)


def process(
    db: Database,
    job_ids: Sequence[int],
    options: WorkerOptions,
    *,
    now: dt.datetime | None = None,
) -> int:
    """Compute and store the results of claimed jobs (explanations, and counterfactual
    searches as their follow-ups); returns how many were stored.

    ``now`` (tests) fixes the clock for back-off; by default the time after computing."""
    works = _load_work(db, job_ids)
    groups: dict[tuple[str, int], list[_Work]] = defaultdict(list)
    for work in works:
        groups[(work.kind, work.model_version_id)].append(work)
    stored = 0
    # explanations first: a citizen's explanation is not kept waiting by searches
    ordered = sorted(groups.items(), key=lambda item: item[0][0] == COUNTERFACTUAL)
    for (kind, model_version_id), group in ordered:
        compute = _counterfactual_group if kind == COUNTERFACTUAL else _explain_group
        done: list[_Done] = []
        failed: list[tuple[_Work, str]] = []
        try:
            with db.transaction() as session:
                bundle = _bundle(session, model_version_id)
            try:
                done = compute(bundle, group, options)
            except Exception:
                # one bad row must not fail the others: compute them one by one
                for work in group:
                    try:
                        done.extend(compute(bundle, [work], options))
                    except Exception as exc:
                        failed.append((work, _safe_reason(exc)))
        except Exception as exc:  # the model itself cannot be loaded
            failed = [(work, _safe_reason(exc)) for work in group]
        finished_at = now or utcnow()
        searches = kind == COUNTERFACTUAL
        rows = [] if searches else [_explanation_rows(d, finished_at, options) for d in done]
        with db.transaction() as session:
            if searches:
                stored += _store_counterfactuals(session, done, finished_at)
            else:
                stored += _store_explanations(session, rows, finished_at)
            for work, reason in failed:
                log.warning("explanation job %s failed: %s", work.job_id, reason)
                _fail(session, work, reason, options, finished_at)
    return stored


def run_due(
    db: Database,
    options: WorkerOptions | None = None,
    *,
    job_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Claim due jobs (optionally only ``job_ids``) and process them; returns jobs claimed."""
    options = options or WorkerOptions()
    with db.transaction() as session:
        claimed = claim(
            session,
            limit=options.batch_size,
            lease_seconds=options.lease_seconds,
            now=now or utcnow(),
            job_ids=job_ids,
            max_searches=options.searches_per_claim,
        )
    if claimed:
        process(db, claimed, options, now=now)
    return len(claimed)


def run_until_idle(
    db: Database, options: WorkerOptions | None = None, max_rounds: int = 10_000
) -> int:
    """Process every due job (demo seed, tests, CLI); returns how many were claimed."""
    total = 0
    for _ in range(max_rounds):
        n = run_due(db, options)
        if not n:
            break
        total += n
    return total


# --- retry -----------------------------------------------------------------------------------


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
            _set_counterfactual(session, job.decision_id, counterfactual_status="pending")
            continue
        session.execute(
            update(Decision)
            .where(Decision.id == job.decision_id)
            .values(status="pending", status_reason=None)
        )
    session.flush()
    return len(jobs)


# --- in-process worker --------------------------------------------------------------------------


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


def get_worker(app: Flask) -> InProcessWorker | None:
    return app.extensions.get(_EXTENSION)


def init_app(app: Flask) -> None:
    """Set up the configured worker mode for this app (called from create_app)."""
    from portal.db_session import get_db

    settings = app.config["SETTINGS"]
    if settings.worker != "inprocess":
        return
    worker = InProcessWorker(
        get_db(app), WorkerOptions.from_settings(settings), settings.worker_poll_ms / 1000
    )
    app.extensions[_EXTENSION] = worker
    # The audit sealer rides on the worker's thread (see portal.oversight.sealer).
    from portal.oversight.sealer import PeriodicSealer

    worker.periodic.append(PeriodicSealer.from_settings(get_db(app), settings))

    @app.before_request
    def _start_worker() -> None:
        # Started on the first request, not in create_app: CLI commands need no thread,
        # and gunicorn forks after importing the app.
        if worker.autostart:
            worker.ensure_started()


def nudge(app: Flask, job_ids: Sequence[int]) -> None:
    """After a commit: tell the worker there is new work (best effort; never raises)."""
    if not job_ids:
        return
    settings = app.config["SETTINGS"]
    if settings.worker == "inprocess":
        worker = get_worker(app)
        if worker is not None:
            worker.wake()
    elif settings.worker == "celery":
        from portal.decisions.tasks import dispatch

        dispatch(app, job_ids)

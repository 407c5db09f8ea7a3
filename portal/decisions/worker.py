"""Computing explanations off the request path.

The ``job`` table is the source of truth (an outbox written with the decision). A worker
*claims* due jobs in its own short transaction (status ``running`` with a lease in
``locked_until``, so a crashed worker's jobs become due again when the lease ends), computes
the explanations without holding a transaction, then stores each result (explanation row,
decision ``ready``, recomputed output, mismatch flag, audit event) in one transaction.

Two kinds of job: ``explain`` (the explanation; the decision becomes ``ready``) and its
follow-up ``counterfactual`` (the search for "what could have changed the result", many
model evaluations), queued when the explanation is stored and claimed only after waiting
explanations, so a citizen never waits for a search to read their explanation. A failed
search marks only the explanation's ``counterfactual_status``, never the decision.

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
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask
from sqlalchemy import and_, case, or_, select, update
from sqlalchemy.orm import Session

from portal.db import Database, utcnow
from portal.decisions.explanations import build_payload, new_explanation
from portal.decisions.models import Decision, Explanation, Job
from portal.oversight.audit import WORKER, record_event
from portal.registry.models import ModelArtifact, ModelVersion

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
    batch_size: int = 32
    lease_seconds: int = 300
    backoff_seconds: float = 2.0
    counterfactuals: bool = True
    counterfactual_attempts: int = 3

    @classmethod
    def from_settings(cls, settings: Any) -> WorkerOptions:
        return cls(
            batch_size=settings.worker_batch_size,
            lease_seconds=settings.job_lease_seconds,
            backoff_seconds=float(settings.job_backoff_seconds),
            counterfactuals=settings.explanation_counterfactuals,
        )


def _due(now: dt.datetime) -> Any:
    return and_(
        Job.kind.in_(JOB_KINDS),
        or_(
            and_(Job.status == "pending", Job.next_attempt_at <= now),
            and_(Job.status == "running", Job.locked_until < now),
        ),
    )


def claim(
    session: Session,
    *,
    limit: int,
    lease_seconds: int,
    now: dt.datetime,
    job_ids: Sequence[int] | None = None,
) -> list[int]:
    """Claim up to ``limit`` due jobs (or the given ones, if due) for this worker.

    The conditional UPDATE is what makes a claim exclusive: a job another worker claimed
    first no longer matches ``_due`` and is not returned.
    """
    base = select(Job.id).join(Decision, Decision.id == Job.decision_id).where(_due(now))
    if job_ids is not None:
        base = base.where(Job.id.in_(job_ids))
    # Per sending system, its oldest due jobs; then round-robin over the systems.
    systems = session.scalars(base.with_only_columns(Decision.system_id).distinct()).all()
    by_system: dict[int, deque[int]] = {}
    for system_id in systems:
        by_system[system_id] = deque(
            session.scalars(
                base.where(Decision.system_id == system_id)
                .order_by(case((Job.kind == EXPLAIN, 0), else_=1), Job.next_attempt_at, Job.id)
                .limit(limit)
            ).all()
        )
    picked: list[int] = []
    queues = list(by_system.values())
    while queues and len(picked) < limit:  # round-robin over systems, oldest first in each
        for queue in list(queues):
            picked.append(queue.popleft())
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
            select(Job.id, Job.kind, Decision)
            .join(Decision, Decision.id == Job.decision_id)
            .where(Job.id.in_(job_ids))
        ).all()
        return [
            _Work(
                job_id=job_id,
                kind=kind,
                decision_id=d.id,
                public_id=d.public_id,
                subject_key=d.subject_key,
                model_version_id=d.model_version_id,
                features=d.features,
                reported_output=d.reported_output,
            )
            for job_id, kind, d in rows
        ]


def _finish(session: Session, work: _Work, now: dt.datetime) -> bool:
    """Mark a claimed job done; False if its lease was lost and it finished elsewhere."""
    return bool(
        session.execute(
            update(Job)
            .where(Job.id == work.job_id, Job.status == "running")
            .values(status="done", finished_at=now, locked_until=None, last_error=None)
        ).rowcount
    )


def _set_counterfactual(session: Session, decision_id: int, **changes: Any) -> None:
    explanation = session.scalars(
        select(Explanation).where(Explanation.decision_id == decision_id)
    ).one_or_none()
    if explanation is not None:  # a new dict: the encrypted column sees the change
        explanation.payload = {**explanation.payload, **changes}


def _store_counterfactual(session: Session, done: _Done, now: dt.datetime) -> bool:
    if not _finish(session, done.work, now):
        return False
    _set_counterfactual(
        session,
        done.work.decision_id,
        counterfactual=done.payload["counterfactual"],
        counterfactual_status="done",
    )
    return True


def _store(session: Session, done: _Done, now: dt.datetime, options: WorkerOptions) -> bool:
    if done.work.kind == COUNTERFACTUAL:
        return _store_counterfactual(session, done, now)
    work, record = done.work, done.record
    if not _finish(session, work, now):
        return False
    if options.counterfactuals:
        session.add(
            Job(
                kind=COUNTERFACTUAL,
                decision_id=work.decision_id,
                status="pending",
                max_attempts=options.counterfactual_attempts,
                next_attempt_at=now,
                created_at=now,
            )
        )
    flag_codes = [f["code"] for f in done.payload["flags"]]
    mismatch = "output-mismatch" in flag_codes
    session.add(new_explanation(work.decision_id, done.payload, record, created_at=now))
    session.execute(
        update(Decision)
        .where(Decision.id == work.decision_id)
        .values(
            status="ready",
            status_reason=None,
            recomputed_output=float(record.presentation.output),
            output_mismatch=mismatch,
        )
    )
    record_event(
        session,
        WORKER,
        "explanation.computed",
        purpose="explanation",
        decision_public_id=work.public_id,
        subject_key=work.subject_key,
        details={
            "explainer": record.explainer,
            "flags": flag_codes,
            "additivity_error": record.additivity_error,
        },
    )
    return True


def _fail(
    session: Session, work: _Work, reason: str, options: WorkerOptions, now: dt.datetime
) -> None:
    job = session.get(Job, work.job_id)
    if job is None or job.status != "running":
        return
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
    for (kind, model_version_id), group in groups.items():
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
        with db.transaction() as session:
            for item in done:
                stored += _store(session, item, finished_at, options)
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

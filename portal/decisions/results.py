"""Storing the results of claimed jobs, a group at a time, in one short transaction each.

Explanations: jobs done, follow-up searches queued, explanation rows, decisions ``ready``
with the recomputed output and mismatch flag, audit events; a set-based statement per table
(Core ``insert()``/``update()`` with a list of rows). Searches: the counterfactual written
into the explanation's payload. A failed job backs off, or after its last attempt fails
(the decision too, unless it was a search: then only the explanation says so).

A result is stored only if this worker's claim still stands (``_finish``).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any, cast

from sqlalchemy import Table, bindparam, insert, select, tuple_, update
from sqlalchemy.orm import Session

from portal.decisions.computing import Done, Work
from portal.decisions.explanations import explanation_values
from portal.decisions.models import COUNTERFACTUAL, Decision, Explanation, Job
from portal.decisions.rows import job_row
from portal.oversight.audit import WORKER, PendingEvent, record_event, record_events

MAX_BACKOFF_SECONDS = 3600

_JOB = cast(Table, Job.__table__)
_DECISION = cast(Table, Decision.__table__)
_EXPLANATION = cast(Table, Explanation.__table__)

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
    .values(payload=bindparam("payload_", type_=_EXPLANATION.c.payload.type))
)


@dataclass(frozen=True)
class _ExplanationRows:
    """One explanation's rows and parameters for its group's statements."""

    work: Work
    explanation: dict[str, Any]
    decision: dict[str, Any]
    follow_up: dict[str, Any] | None
    event: PendingEvent


def _explanation_rows(
    done: Done, now: dt.datetime, follow_up_attempts: int | None
) -> _ExplanationRows:
    work, record = done.work, done.record
    explanation = explanation_values(work.decision_id, done.payload, record, created_at=now)
    flag_codes = explanation["flags"]
    follow_up = None
    if follow_up_attempts is not None:
        follow_up = job_row(
            COUNTERFACTUAL,
            decision_id=work.decision_id,
            system_id=work.system_id,
            max_attempts=follow_up_attempts,
            now=now,
        )
    return _ExplanationRows(
        work=work,
        explanation=explanation,
        decision={
            "decision_id_": work.decision_id,
            "recomputed_output_": float(record.declared_output),
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


def _finish(session: Session, works: list[Work], now: dt.datetime) -> set[int]:
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


def store_explanations(
    session: Session, done: list[Done], now: dt.datetime, *, follow_up_attempts: int | None
) -> int:
    """Store a group's explanations: jobs done, follow-up searches queued (with
    ``follow_up_attempts`` attempts; None: no search), explanation rows, decisions ready,
    audit events; a statement each. Returns how many were stored."""
    rows = [_explanation_rows(d, now, follow_up_attempts) for d in done]
    finished = _finish(session, [r.work for r in rows], now)
    rows = [r for r in rows if r.work.job_id in finished]
    if not rows:
        return 0
    follow_ups = [r.follow_up for r in rows if r.follow_up is not None]
    if follow_ups:
        session.execute(insert(_JOB), follow_ups)
    session.execute(insert(_EXPLANATION), [r.explanation for r in rows])
    session.execute(_DECISION_READY, [r.decision for r in rows])
    record_events(session, [r.event for r in rows])
    return len(rows)


def set_counterfactual(session: Session, decision_id: int, **changes: Any) -> None:
    """Change the counterfactual fields of a stored explanation's payload, if there is one."""
    explanation = session.scalars(
        select(Explanation).where(Explanation.decision_id == decision_id)
    ).one_or_none()
    if explanation is not None:  # a new dict: the encrypted column sees the change
        explanation.payload = {**explanation.payload, **changes}


def store_counterfactuals(session: Session, done: list[Done], now: dt.datetime) -> int:
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


def fail(
    session: Session, work: Work, reason: str, now: dt.datetime, *, backoff_seconds: float
) -> None:
    """A job that could not be computed: try again later (exponential back-off from
    ``backoff_seconds``) or, after its last attempt, mark it failed."""
    job = session.get(Job, work.job_id)
    if job is None or job.status != "running" or job.attempts != work.attempt:
        return  # finished elsewhere or claimed again: the other worker decides
    job.last_error = reason
    job.locked_until = None
    if job.attempts >= job.max_attempts and job.kind == COUNTERFACTUAL:
        # The explanation stands; the page says the search could not be done.
        job.status = "failed"
        job.finished_at = now
        set_counterfactual(session, work.decision_id, counterfactual_status="failed")
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
        delay = min(backoff_seconds * 2 ** (job.attempts - 1), MAX_BACKOFF_SECONDS)
        job.status = "pending"
        job.next_attempt_at = now + dt.timedelta(seconds=delay)

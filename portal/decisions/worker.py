"""Computing explanations off the request path: one round of the worker, and its options.

The ``job`` table is the source of truth (an outbox written with the decision). A round
claims due jobs in its own short transaction (``portal.decisions.claiming``), computes the
results without holding a transaction (``computing``), then stores each group's results in
one short transaction (``results``).

Two kinds of job: ``explain`` (the explanation; the decision becomes ``ready``) and its
follow-up ``counterfactual`` (the search for "what could have changed the result", many
model evaluations), queued when the explanation is stored and claimed only after waiting
explanations (and at most ``searches_per_claim`` of them in one claim), so a citizen never
waits long for a search to read their explanation. A failed search marks only the
explanation's ``counterfactual_status``, never the decision.

A failing job is retried with exponential back-off; after ``max_attempts`` it is ``failed``
with the reason, and the decision shows ``failed`` (``flask jobs retry`` starts it again).

Other kinds of job that belong to no decision (a citizen's large "Mine data" PDF,
``portal.cases.exports``) register a handler (:func:`register_job_handler`): each round
runs it after the explanations, it claims and runs its own jobs, in-process and on Celery
alike (the same ``run_due``).

Who runs rounds is the dispatcher's business (``portal.decisions.dispatch``): a thread in
the web process, Celery workers, or nobody (tests and ``flask jobs run`` call
:func:`run_due` / :func:`run_until_idle`).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from portal.db import Database, utcnow
from portal.decisions import computing
from portal.decisions.claiming import claim
from portal.decisions.computing import Done, Work, load_bundle, load_work, safe_reason
from portal.decisions.models import COUNTERFACTUAL
from portal.decisions.results import fail, store_counterfactuals, store_explanations

log = logging.getLogger(__name__)


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


def _compute(
    bundle: Any, kind: str, group: list[Work], options: WorkerOptions
) -> tuple[list[Done], list[tuple[Work, str]]]:
    """The group's results, and the works that failed with their reasons: one bad row
    must not fail the others, so a failed group is computed again one row at a time."""

    def compute(works: list[Work]) -> list[Done]:
        if kind == COUNTERFACTUAL:
            return computing.counterfactual_group(bundle, works)
        return computing.explain_group(bundle, works, counterfactuals=options.counterfactuals)

    try:
        return compute(group), []
    except Exception:
        done: list[Done] = []
        failed: list[tuple[Work, str]] = []
        for work in group:
            try:
                done.extend(compute([work]))
            except Exception as exc:
                failed.append((work, safe_reason(exc)))
        return done, failed


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
    groups: dict[tuple[str, int], list[Work]] = defaultdict(list)
    for work in load_work(db, job_ids):
        groups[(work.kind, work.model_version_id)].append(work)
    stored = 0
    # explanations first: a citizen's explanation is not kept waiting by searches
    ordered = sorted(groups.items(), key=lambda item: item[0][0] == COUNTERFACTUAL)
    for (kind, model_version_id), group in ordered:
        try:
            with db.transaction() as session:
                bundle = load_bundle(session, model_version_id)
            done, failed = _compute(bundle, kind, group, options)
        except Exception as exc:  # the model itself cannot be loaded
            done, failed = [], [(work, safe_reason(exc)) for work in group]
        finished_at = now or utcnow()
        with db.transaction() as session:
            if kind == COUNTERFACTUAL:
                stored += store_counterfactuals(session, done, finished_at)
            else:
                attempts = options.counterfactual_attempts if options.counterfactuals else None
                stored += store_explanations(
                    session, done, finished_at, follow_up_attempts=attempts
                )
            for work, reason in failed:
                log.warning("explanation job %s failed: %s", work.job_id, reason)
                fail(session, work, reason, finished_at, backoff_seconds=options.backoff_seconds)
    return stored


#: run(db, job_ids or None, options, now) -> jobs claimed: one round of another job kind.
JobHandler = Callable[[Database, Sequence[int] | None, "WorkerOptions", dt.datetime], int]
_HANDLERS: dict[str, JobHandler] = {}


def register_job_handler(kind: str, handler: JobHandler) -> None:
    """Run ``handler`` in every round for jobs of ``kind`` (the last registration wins:
    each ``create_app`` registers its own)."""
    _HANDLERS[kind] = handler


def job_handler(kind: str) -> JobHandler | None:
    """The handler registered for ``kind``, if any."""
    return _HANDLERS.get(kind)


def run_due(
    db: Database,
    options: WorkerOptions | None = None,
    *,
    job_ids: Sequence[int] | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Claim due jobs (optionally only ``job_ids``) and process them, then run the other
    kinds' handlers; returns jobs claimed."""
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
    others = sum(
        handler(db, job_ids, options, now or utcnow()) for handler in list(_HANDLERS.values())
    )
    return len(claimed) + others


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

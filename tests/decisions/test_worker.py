"""The explanation worker: claim with a lease, compute, store, retry with back-off."""

from __future__ import annotations

import copy
import datetime as dt

import pytest
from sqlalchemy import select, update

from portal.db import utcnow
from portal.db_session import get_db
from portal.decisions.claiming import claim, retry_jobs
from portal.decisions.explanations import StoredExplanation
from portal.decisions.models import Decision, Job
from portal.decisions.worker import WorkerOptions, process, run_due, run_until_idle
from portal.oversight.audit import verify_chain
from portal.oversight.models import AuditEvent


def decision(session, public_id: str) -> Decision:
    return session.scalar(select(Decision).where(Decision.public_id == public_id))


def job_of(session, public_id: str, kind: str = "explain") -> Job:
    return session.scalar(
        select(Job)
        .join(Decision, Decision.id == Job.decision_id)
        .where(Decision.public_id == public_id, Job.kind == kind)
    )


def test_explanations_are_stored_and_audited(app, session, ingest, demo_bodies) -> None:
    ids = [ingest(body) for body in demo_bodies[:6]]
    # First round: the explanations; each queues its counterfactual search as a follow-up.
    assert run_due(get_db(app), WorkerOptions()) == 6
    for public_id in ids:
        row = decision(session, public_id)
        session.refresh(row)
        assert row.status == "ready"
        stored = StoredExplanation.from_row(row.explanation)
        assert (stored.counterfactual, stored.counterfactual_status) == (None, "pending")
        assert job_of(session, public_id, "counterfactual").status == "pending"
    assert run_until_idle(get_db(app)) == 6  # then the searches
    session.expire_all()
    for public_id, body in zip(ids, demo_bodies[:6], strict=True):
        row = decision(session, public_id)
        session.refresh(row)
        assert row.status == "ready"
        assert row.recomputed_output == pytest.approx(body["model_output"], abs=1e-9)
        assert row.output_mismatch is False
        stored = StoredExplanation.from_row(row.explanation)
        total = stored.base_value + sum(c.value for c in stored.contributions)
        assert total == pytest.approx(stored.output, abs=1e-9)
        assert {c.key for c in stored.contributions} == set(body["features"])
        assert stored.reproducibility.artifact_sha256 == row.model_version.artifact_sha256
        assert row.explanation.payload["counterfactual"] is not None
        assert stored.counterfactual_status == "done"
        assert job_of(session, public_id).status == "done"
        assert job_of(session, public_id, "counterfactual").status == "done"
    events = session.scalars(
        select(AuditEvent).where(AuditEvent.action == "explanation.computed")
    ).all()
    assert {e.decision_public_id for e in events} == set(ids)
    assert all(e.actor_kind == "worker" for e in events)


def test_output_mismatch_flags_the_decision(app, session, ingest, demo_bodies) -> None:
    body = copy.deepcopy(demo_bodies[0])
    body["model_output"] = min(1.0, body["model_output"] + 0.2)
    public_id = ingest(body)
    run_until_idle(get_db(app))
    row = decision(session, public_id)
    session.refresh(row)
    assert row.status == "ready"
    assert row.output_mismatch is True
    assert "output-mismatch" in row.explanation.flags
    assert "output-mismatch" in StoredExplanation.from_row(row.explanation).flag_codes()


def test_claim_is_exclusive_and_leased(app, session, ingest, demo_bodies) -> None:
    ingest(demo_bodies[0])
    now = utcnow()
    first = claim(session, limit=10, lease_seconds=60, now=now)
    second = claim(session, limit=10, lease_seconds=60, now=now)
    assert (len(first), second) == (1, [])
    # when the lease has run out (the worker died), the job is due again
    later = claim(session, limit=10, lease_seconds=60, now=now + dt.timedelta(seconds=61))
    assert later == first
    assert session.get(Job, first[0]).attempts == 2


def test_claim_is_fair_across_systems(app, session, ingest, demo_bodies, active_models) -> None:
    from portal.decisions.intake import IngestOptions, receive_decision
    from portal.registry import admin

    for body in demo_bodies[:10]:
        ingest(body)  # a flood from one system ...
    other, _ = admin.create_system(session, "quiet-sender", "Enhed")
    admin.grant_model(session, other.name, demo_bodies[11]["model"]["name"])
    options = IngestOptions(lookup_key="k", max_attempts=3)
    late = receive_decision(session, other, "q1", demo_bodies[11], options).body["id"]
    session.flush()
    claimed = claim(session, limit=2, lease_seconds=60, now=utcnow())
    assert job_of(session, late).id in claimed  # ... does not starve the other one


def test_every_job_names_its_decisions_system(app, session, ingest, demo_bodies) -> None:
    """The claim finds jobs by system (ix_job_claim): explanations and their follow-ups."""
    for body in demo_bodies[:3]:
        ingest(body)
    assert run_due(get_db(app), WorkerOptions()) == 3  # the explanations queue the searches
    rows = session.execute(
        select(Job.kind, Job.system_id, Decision.system_id).join(
            Decision, Decision.id == Job.decision_id
        )
    ).all()
    assert sorted(kind for kind, _, _ in rows) == ["counterfactual"] * 3 + ["explain"] * 3
    assert all(job_system == decision_system for _, job_system, decision_system in rows)


def test_a_claim_takes_the_oldest_due_jobs_first(app, session, ingest, demo_bodies) -> None:
    ids = [ingest(body) for body in demo_bodies[:4]]
    now = utcnow()
    session.execute(  # the third one was retried and is due later
        update(Job)
        .where(Job.id == job_of(session, ids[2]).id)
        .values(next_attempt_at=now + dt.timedelta(seconds=30))
    )
    session.flush()
    first = claim(session, limit=2, lease_seconds=60, now=now)
    assert first == sorted(job_of(session, i).id for i in ids[:2])
    assert claim(session, limit=5, lease_seconds=60, now=now) == [job_of(session, ids[3]).id]


def test_failing_job_backs_off_then_fails_and_can_be_retried(
    app, session, ingest, demo_bodies, monkeypatch
) -> None:
    import explainers

    public_id = ingest(demo_bodies[0])
    calls = {"n": 0}

    def broken(*args, **kwargs):
        calls["n"] += 1
        raise explainers.UnsupportedModelError("kernel exploded")

    monkeypatch.setattr(explainers, "explain_rows", broken)
    options = WorkerOptions(backoff_seconds=10)
    db = get_db(app)
    start = utcnow()
    assert run_due(db, options, now=start) == 1
    job = job_of(session, public_id)
    session.refresh(job)
    assert (job.status, job.attempts) == ("pending", 1)
    assert job.last_error.startswith("unsupported-model")
    assert job.next_attempt_at >= start + dt.timedelta(seconds=9)
    assert run_due(db, options, now=start) == 0  # not due yet: back-off
    assert run_due(db, options, now=start + dt.timedelta(seconds=11)) == 1
    session.refresh(job)
    assert job.next_attempt_at >= start + dt.timedelta(seconds=11 + 19)  # doubled
    assert run_due(db, options, now=start + dt.timedelta(hours=1)) == 1  # third = max_attempts
    session.refresh(job)
    row = decision(session, public_id)
    session.refresh(row)
    assert (job.status, row.status) == ("failed", "failed")
    assert "kernel exploded" in row.status_reason
    assert run_due(db, options, now=start + dt.timedelta(hours=2)) == 0

    monkeypatch.undo()
    assert retry_jobs(session, decision_public_id=public_id) == 1
    session.flush()
    assert run_until_idle(db) == 2  # the explanation, then its counterfactual search
    session.refresh(row)
    assert row.status == "ready"


def test_one_bad_row_does_not_fail_the_others(app, session, ingest, demo_bodies) -> None:
    good = ingest(demo_bodies[0])
    bad = ingest(demo_bodies[2])
    # corrupt the stored features of one decision behind the API's back
    row = decision(session, bad)
    row.features = {"nonsense": 1}
    session.flush()
    run_due(get_db(app), WorkerOptions())
    session.expire_all()
    assert decision(session, good).status == "ready"
    assert job_of(session, bad).status == "pending"
    assert job_of(session, bad).last_error.startswith("invalid-row")


def test_retry_needs_a_target(session) -> None:
    assert retry_jobs(session) == 0


def test_a_failing_counterfactual_search_never_fails_the_decision(
    app, session, ingest, demo_bodies, monkeypatch
) -> None:
    import explainers

    public_id = ingest(demo_bodies[0])
    db = get_db(app)
    start = utcnow()
    assert run_due(db, WorkerOptions(), now=start) == 1  # the explanation

    def broken(*args, **kwargs):
        raise explainers.UnsupportedModelError("search exploded")

    monkeypatch.setattr(explainers, "counterfactual", broken)
    options = WorkerOptions(backoff_seconds=1)
    for hours in (1, 2, 3):  # three attempts (counterfactual_attempts), far apart
        assert run_due(db, options, now=start + dt.timedelta(hours=hours)) == 1
    search = job_of(session, public_id, "counterfactual")
    row = decision(session, public_id)
    session.refresh(search)
    session.refresh(row)
    assert search.status == "failed"
    assert search.last_error.startswith("unsupported-model")
    assert row.status == "ready"  # the explanation stands
    stored = StoredExplanation.from_row(row.explanation)
    assert (stored.counterfactual, stored.counterfactual_status) == (None, "failed")

    monkeypatch.undo()
    assert retry_jobs(session, decision_public_id=public_id) == 1
    session.flush()
    session.refresh(row)
    assert row.status == "ready"  # retrying the search does not hide the explanation
    assert run_until_idle(db) == 1
    session.expire_all()
    stored = StoredExplanation.from_row(decision(session, public_id).explanation)
    assert stored.counterfactual is not None
    assert stored.counterfactual_status == "done"


# --- storing a group with set-based statements ---------------------------------------------------


def explanation_events(session) -> list[AuditEvent]:
    return session.scalars(
        select(AuditEvent)
        .where(AuditEvent.action == "explanation.computed")
        .order_by(AuditEvent.id)
    ).all()


def test_a_group_with_a_lost_lease_stores_the_others_only(
    app, session, ingest, demo_bodies
) -> None:
    ids = [ingest(body) for body in demo_bodies[:4]]
    lost = ids[1]
    claimed = claim(session, limit=10, lease_seconds=60, now=utcnow())
    assert len(claimed) == 4
    # The lease ran out, another worker claimed the job again and finished it first.
    session.execute(update(Job).where(Job.id == job_of(session, lost).id).values(status="done"))
    session.flush()
    assert process(get_db(app), claimed, WorkerOptions()) == 3
    session.expire_all()
    for public_id in ids:
        row = decision(session, public_id)
        search = job_of(session, public_id, "counterfactual")
        if public_id == lost:  # nothing of this worker's result is stored
            assert (row.status, row.explanation, row.recomputed_output) == ("pending", None, None)
            assert search is None
        else:
            assert row.status == "ready"
            assert row.recomputed_output is not None
            assert StoredExplanation.from_row(row.explanation).counterfactual_status == "pending"
            assert (search.status, search.max_attempts) == ("pending", 3)
            assert job_of(session, public_id).status == "done"
    assert [e.decision_public_id for e in explanation_events(session)] == [
        public_id for public_id in ids if public_id != lost
    ]
    assert verify_chain(session).ok


def test_a_job_claimed_again_while_computing_is_left_to_the_other_worker(
    app, session, ingest, demo_bodies, monkeypatch
) -> None:
    """The lease ran out while this worker computed and another worker claimed the job again:
    it is still running there, so this worker stores nothing of it (nor fails it)."""
    import portal.decisions.computing as computing

    ids = [ingest(body) for body in demo_bodies[:3]]
    db = get_db(app)
    claimed = claim(session, limit=10, lease_seconds=60, now=utcnow())
    taken = job_of(session, ids[0]).id
    compute = computing.explain_group
    reclaimed: list[int] = []

    def compute_while_another_worker_claims(bundle, works, **options):
        if not reclaimed:
            later = utcnow() + dt.timedelta(seconds=61)
            with db.transaction() as other:
                reclaimed.extend(
                    claim(other, limit=10, lease_seconds=60, now=later, job_ids=[taken])
                )
        return compute(bundle, works, **options)

    monkeypatch.setattr(computing, "explain_group", compute_while_another_worker_claims)
    assert process(db, claimed, WorkerOptions(counterfactuals=False)) == 2
    assert reclaimed == [taken]
    session.expire_all()
    job = job_of(session, ids[0])
    assert (job.status, job.attempts) == ("running", 2)  # the other worker's claim stands
    assert decision(session, ids[0]).explanation is None
    assert [decision(session, i).status for i in ids[1:]] == ["ready", "ready"]
    assert verify_chain(session).ok


def test_a_group_stores_every_column_of_each_result(app, session, ingest, demo_bodies) -> None:
    body = copy.deepcopy(demo_bodies[0])
    body["model_output"] = min(1.0, body["model_output"] + 0.2)  # flagged: output-mismatch
    ids = [ingest(body), ingest(demo_bodies[1])]
    assert run_due(get_db(app), WorkerOptions(counterfactuals=False)) == 2
    session.expire_all()
    for public_id, mismatch in zip(ids, (True, False), strict=True):
        row = decision(session, public_id)
        stored = row.explanation
        assert row.output_mismatch is mismatch
        assert row.recomputed_output == pytest.approx(
            stored.payload["explanation"]["presentation"]["output"]
        )
        assert stored.flags == [f["code"] for f in stored.payload["flags"]]
        assert ("output-mismatch" in stored.flags) is mismatch
        assert stored.payload["counterfactual_status"] == "off"
        assert stored.payload["explanation"]["artifact_sha256"] == stored.artifact_sha256
        assert stored.explainer_kind == "tree"
        assert job_of(session, public_id, "counterfactual") is None
        events = [e for e in explanation_events(session) if e.decision_public_id == public_id]
        assert len(events) == 1
        assert events[0].subject_key == row.subject_key
        assert events[0].details["flags"] == stored.flags
    assert verify_chain(session).ok


def test_a_search_group_with_a_lost_lease_stores_the_others_only(
    app, session, ingest, demo_bodies
) -> None:
    ids = [ingest(body) for body in demo_bodies[:3]]
    db = get_db(app)
    assert run_due(db, WorkerOptions()) == 3  # the explanations; their searches are queued
    claimed = claim(session, limit=10, lease_seconds=60, now=utcnow())
    assert len(claimed) == 3
    session.execute(
        update(Job)
        .where(Job.id == job_of(session, ids[0], "counterfactual").id)
        .values(status="done")
    )
    session.flush()
    assert process(db, claimed, WorkerOptions()) == 2
    session.expire_all()
    statuses = [
        StoredExplanation.from_row(decision(session, public_id).explanation).counterfactual_status
        for public_id in ids
    ]
    assert statuses == ["pending", "done", "done"]
    assert decision(session, ids[1]).explanation.payload["counterfactual"] is not None


def test_a_claim_takes_explanations_first_and_few_searches(
    app, session, ingest, demo_bodies
) -> None:
    for body in demo_bodies[:4]:
        ingest(body)
    assert run_due(get_db(app), WorkerOptions()) == 4  # four searches queued
    fresh = ingest(demo_bodies[4])
    claimed = claim(session, limit=10, lease_seconds=60, now=utcnow(), max_searches=2)
    kinds = sorted(session.get(Job, job_id).kind for job_id in claimed)
    assert kinds == ["counterfactual", "counterfactual", "explain"]
    assert job_of(session, fresh).id in claimed
    later = claim(session, limit=10, lease_seconds=60, now=utcnow())  # no cap: the rest
    assert len(later) == 2

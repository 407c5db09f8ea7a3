"""The aggregation job over stored decisions: counts once, incrementally, waits for young
rows, moves cells when outcomes arrive; its reports flag bias and drift."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.decisions.models import Explanation
from portal.supervision.models import (
    UNKNOWN,
    DecisionOutcome,
    GroupCell,
    ModelWeek,
    RateCell,
    SupervisionReport,
)


def report(session: Session, model_id: int, kind: str) -> dict:
    return session.scalar(
        select(SupervisionReport.body).where(
            SupervisionReport.model_version_id == model_id, SupervisionReport.kind == kind
        )
    )


def test_a_biased_model_is_flagged(session, fair_model, decide, aggregate) -> None:
    decide(40, koen="k", output=0.8)
    decide(40, koen="m", output=0.2)
    assert aggregate().decisions == 80
    body = report(session, fair_model.id, "fairness")
    assert body["flagged"] == ["koen"]
    koen = body["attributes"][0]
    assert koen["parity_difference"] == 1.0
    assert {g["group"]: g["mean_output"] for g in koen["groups"]} == {"k": 0.8, "m": 0.2}


def test_an_unbiased_model_is_not_flagged(session, fair_model, decide, aggregate) -> None:
    for koen in ("k", "m"):
        decide(20, koen=koen, output=0.8)
        decide(20, koen=koen, output=0.2)
    aggregate()
    body = report(session, fair_model.id, "fairness")
    assert body["flagged"] == []
    assert body["attributes"][0]["judged"]
    assert body["attributes"][0]["parity_difference"] == 0.0


def test_injected_drift_is_flagged_and_undrifted_data_is_not(
    session, fair_model, decide, aggregate
) -> None:
    decide(50, weeks=lambda i: 2 * i + 1, koen="k")  # the background itself (0-99)
    decide(50, weeks=lambda i: 2 * i, koen="m")
    aggregate()
    assert report(session, fair_model.id, "drift")["flagged"] == []
    # a week later: every decision far above what the background holds
    later = dt.datetime(2026, 5, 25, 10, tzinfo=dt.UTC)
    decide(100, weeks=lambda i: 300 + i, at=later, koen="k")
    decide(100, weeks=lambda i: 300 + i, at=later, koen="m")
    aggregate()
    body = report(session, fair_model.id, "drift")
    assert body["flagged"] == ["ledighed_uger"]
    assert body["out_of_range_share"] > 0.6
    assert [w["week"] for w in body["weeks"]] == ["2026-W21", "2026-W22"]
    assert body["weeks"][1]["max_psi"] > body["weeks"][0]["max_psi"]


def test_monitoring_attributes_are_grouped_too(session, fair_model, decide, aggregate) -> None:
    decide(30, koen="k", output=0.9, monitoring={"aldersgruppe": "18-29"})
    decide(30, koen="m", output=0.9, monitoring={"aldersgruppe": "60-67"})
    aggregate()
    body = report(session, fair_model.id, "fairness")
    monitored = next(a for a in body["attributes"] if a["source"] == "monitoring")
    assert monitored["attribute"] == "aldersgruppe"
    assert [g["group"] for g in monitored["groups"]] == ["18-29", "60-67"]


def test_each_decision_is_counted_once(session, fair_model, decide, aggregate) -> None:
    decide(5)
    assert aggregate().decisions == 5
    assert aggregate().decisions == 0
    decide(3)
    assert aggregate().decisions == 3
    total = session.scalar(
        select(func.sum(ModelWeek.decisions)).where(ModelWeek.model_version_id == fair_model.id)
    )
    assert total == 8


def test_rows_younger_than_the_settle_time_wait(session, fair_model, decide, aggregate) -> None:
    old = decide(2)
    young = decide(2, at=dt.datetime(2026, 5, 21, 10, tzinfo=dt.UTC))
    now = dt.datetime(2026, 5, 21, 10, 0, 5, tzinfo=dt.UTC)
    assert aggregate(now=now, settle_seconds=60).decisions == len(old)
    later = now + dt.timedelta(minutes=2)
    assert aggregate(now=later, settle_seconds=60).decisions == len(young)


def test_a_reported_outcome_moves_the_cells(session, fair_model, decide, aggregate) -> None:
    [decision] = decide(1, koen="m", output=0.9)
    aggregate()
    session.add(DecisionOutcome(decision_id=decision.id, actual_positive=False))
    session.flush()
    assert aggregate().outcomes == 1
    cells = {
        (c.actual, c.decisions)
        for c in session.scalars(
            select(GroupCell).where(GroupCell.model_version_id == fair_model.id)
        )
    }
    assert cells == {(UNKNOWN, 0), (0, 1)}


def test_overrides_reviews_and_top_contributors_are_counted(
    session, fair_model, decide, aggregate
) -> None:
    from portal.cases.models import CitizenRequest

    made = decide(4, followed_model=False, decided_by="Team Vest")
    decide(6, decided_by="Team Vest")
    session.add(
        CitizenRequest(
            decision_id=made[0].id,
            subject_key=made[0].subject_key,
            kind="human-review",
            message="?",
        )
    )
    for decision, top in ((made[0], True), (made[1], False)):
        session.add(
            Explanation(
                decision_id=decision.id,
                payload={},
                flags=["sensitive-top-contributor"] if top else [],
                explainer_kind="tree",
                scale="probability",
                shap_version="test",
                artifact_sha256="0" * 64,
                seed=0,
                additivity_error=0.0,
                computation_seconds=0.0,
            )
        )
    session.flush()
    aggregate()
    cell = session.scalar(select(RateCell).where(RateCell.model_version_id == fair_model.id))
    assert (cell.unit, cell.week, cell.decisions, cell.overridden, cell.reviews) == (
        "Team Vest",
        "2026-W21",
        10,
        4,
        1,
    )
    body = report(session, fair_model.id, "fairness")
    assert (body["explained"], body["sensitive_top"], body["sensitive_top_share"]) == (2, 1, 0.5)


def test_a_round_that_lost_the_race_writes_nothing(session, fair_model, decide) -> None:
    from portal.supervision.aggregates import apply, collect

    decide(5)
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    first = collect(session, now=now, settle_seconds=0)
    second = collect(session, now=now, settle_seconds=0)
    assert apply(session, first, now=now)
    assert not apply(session, second, now=now)  # read the same rows: already counted
    total = session.scalar(
        select(func.sum(ModelWeek.decisions)).where(ModelWeek.model_version_id == fair_model.id)
    )
    assert total == 5


def test_aggregate_all_counts_committed_decisions_in_rounds(
    app, session, fair_model, decide
) -> None:
    from portal.db_session import get_db
    from portal.supervision.aggregates import aggregate_all

    made = decide(25)
    session.commit()  # the job reads in sessions of its own
    counted = aggregate_all(get_db(app), min_group_size=30, batch_size=10, settle_seconds=0)
    assert counted == 25
    # made from the counts up to the newest decision (no other source has rows)
    assert report(session, fair_model.id, "fairness")["as_of"] == made[-1].id
    assert aggregate_all(get_db(app), min_group_size=30, settle_seconds=0) == 0

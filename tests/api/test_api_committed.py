"""Against a really committed database: concurrent duplicates and all-or-nothing storage."""

from __future__ import annotations

import threading

import pytest
from api_support import (
    SignedClient,
    commit_sender_and_model,
    decision_body,
    row_counts,
)
from sqlalchemy import delete

from portal.db_session import get_db
from portal.decisions.models import Decision, Delivery, Job
from portal.oversight.models import AuditEvent
from portal.registry.models import ModelArtifact, ModelVersion, System, WebhookSecret


@pytest.fixture
def committed(committed_app):
    """A sender and an active model, committed; everything deleted afterwards."""
    db = get_db(committed_app)
    sender = commit_sender_and_model(db, "committed-sender")
    yield sender
    with db.transaction() as session:
        for model in (
            Job,
            Delivery,
            Decision,
            AuditEvent,
            ModelArtifact,
            ModelVersion,
            WebhookSecret,
            System,
        ):
            if model is Decision:
                from portal.decisions.models import Explanation

                session.execute(delete(Explanation))
            session.execute(delete(model))


def counts(app) -> dict[str, int]:
    with get_db(app).transaction() as session:
        return row_counts(session)


def test_twenty_concurrent_duplicates_store_exactly_one_decision(committed_app, committed):
    body = decision_body()
    barrier = threading.Barrier(20)
    statuses: list[int] = []
    answers: list[dict] = []
    errors: list[BaseException] = []

    def post() -> None:
        client = SignedClient(committed_app.test_client(), committed)
        try:
            barrier.wait()
            response = client.post("/api/v1/decisions", body, webhook_id="dup-0001")
            statuses.append(response.status_code)
            answers.append(response.get_json())
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert sorted(statuses) == [200] * 19 + [202]
    assert all(answer == answers[0] for answer in answers)
    assert counts(committed_app) == {"Decision": 1, "Delivery": 1, "Job": 1}


def test_concurrent_different_ids_are_all_stored(committed_app, committed):
    barrier = threading.Barrier(10)
    statuses: list[int] = []

    def post(n: int) -> None:
        client = SignedClient(committed_app.test_client(), committed)
        barrier.wait()
        body = decision_body()
        body["features"]["forloeb"] = n
        statuses.append(client.post("/api/v1/decisions", body, webhook_id=f"par-{n}").status_code)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert statuses == [202] * 10
    assert counts(committed_app) == {"Decision": 10, "Delivery": 10, "Job": 10}


def test_a_failure_after_the_insert_leaves_nothing(committed_app, committed, monkeypatch):
    import portal.decisions.intake as intake

    def boom(*args, **kwargs):
        raise RuntimeError("audit store down")

    monkeypatch.setattr(intake, "record_events", boom)
    client = SignedClient(committed_app.test_client(), committed)
    with pytest.raises(RuntimeError, match="audit store down"):
        client.post("/api/v1/decisions", decision_body(), webhook_id="fails-late")
    assert counts(committed_app) == {"Decision": 0, "Delivery": 0, "Job": 0}
    monkeypatch.undo()
    # and the same id then works: nothing of the failed attempt was kept
    ok = client.post("/api/v1/decisions", decision_body(), webhook_id="fails-late")
    assert ok.status_code == 202
    assert counts(committed_app) == {"Decision": 1, "Delivery": 1, "Job": 1}


def test_202_means_committed(committed_app, committed):
    client = SignedClient(committed_app.test_client(), committed)
    response = client.post("/api/v1/decisions", decision_body(), webhook_id="durable")
    assert response.status_code == 202
    # a fresh connection (another process would see the same) finds all three rows
    engine = get_db(committed_app).engine
    with engine.connect() as conn:
        found = conn.exec_driver_sql(
            "SELECT d.public_id, j.status FROM decision d JOIN job j ON j.decision_id = d.id"
        ).all()
    assert found == [(response.get_json()["id"], "pending")]


def test_concurrent_batches_sharing_ids_store_each_item_once(committed_app, committed):
    # Each batch checks which ids exist, then inserts the rest: under concurrency another
    # batch may insert some of them in between, so the insert meets the unique constraint
    # and falls back to one savepoint per item. Every item must end up stored once.
    shared = [f"shared-{n}" for n in range(20)]
    barrier = threading.Barrier(6)
    answers: list[tuple[int, dict]] = []
    errors: list[BaseException] = []

    def post(batch: int) -> None:
        client = SignedClient(committed_app.test_client(), committed)
        items = [{"id": item_id, **decision_body()} for item_id in shared]
        items.append({"id": f"own-{batch}", **decision_body()})
        try:
            barrier.wait()
            response = client.post(
                "/api/v1/decisions/batch", {"items": items}, webhook_id=f"batch-{batch}"
            )
            answers.append((response.status_code, response.get_json()))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=post, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors
    assert [status for status, _ in answers] == [200] * 6
    accepted: dict[str, set[str]] = {}
    for _, answer in answers:
        assert answer["counts"]["rejected"] == 0
        for item in answer["items"]:
            assert item["status"] in {"accepted", "duplicate"}
            accepted.setdefault(item["id"], set()).add(item["decision"]["id"])
    # every answer for one id names the same decision
    assert all(len(ids) == 1 for ids in accepted.values())
    assert counts(committed_app) == {"Decision": 26, "Delivery": 32, "Job": 26}

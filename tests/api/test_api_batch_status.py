"""POST /api/v1/decisions/batch and GET /api/v1/decisions/{id}."""

from __future__ import annotations

import pytest
from api_support import SignedClient, decision_body, make_sender, with_features
from sqlalchemy import select

from portal.db_session import get_db
from portal.decisions.models import Decision
from portal.decisions.worker import run_due
from portal.registry import admin

BATCH = "/api/v1/decisions/batch"


def item(item_id: str, **feature_changes) -> dict:
    body = with_features(**feature_changes) if feature_changes else decision_body()
    return {"id": item_id, **body}


def test_batch_answers_per_item_and_keeps_the_good_ones(signed_client, model, counts) -> None:
    items = [
        item("a"),
        item("b", uddannelse="phd"),  # rejected
        item("c", ledighed_uger=12),
        {"no": "id"},  # rejected
    ]
    response = signed_client.post(BATCH, {"items": items})
    assert response.status_code == 200
    body = response.get_json()
    assert [r["status"] for r in body["items"]] == ["accepted", "rejected", "accepted", "rejected"]
    assert body["counts"] == {"accepted": 2, "duplicate": 0, "rejected": 2}
    rejected = body["items"][1]["error"]
    assert rejected["code"] == "validation-failed"
    assert {"field": "features.uddannelse", "code": "unknown-category"} in [
        {k: d[k] for k in ("field", "code")} for d in rejected["details"]
    ]
    assert body["items"][0]["decision"]["status"] == "pending"
    assert counts() == {"Decision": 2, "Delivery": 3, "Job": 2}  # 2 items + the batch


def test_batch_items_are_idempotent_across_batches_and_singles(signed_client, model, counts):
    first = signed_client.post(BATCH, {"items": [item("x1"), item("x2")]}).get_json()
    second = signed_client.post(
        BATCH, {"items": [item("x1"), item("x2", forloeb=5), item("x3")]}
    ).get_json()
    assert [r["status"] for r in second["items"]] == ["duplicate", "rejected", "accepted"]
    assert second["items"][0]["decision"] == first["items"][0]["decision"]
    assert second["items"][1]["error"]["code"] == "webhook-id-reused"
    # a single decision whose webhook-id is a batch item id with the same content
    single = signed_client.post("/api/v1/decisions", decision_body(), webhook_id="x1")
    assert (single.status_code, single.get_json()) == (200, first["items"][0]["decision"])
    assert counts()["Decision"] == 3


def test_repeated_ids_inside_one_batch(signed_client, model, counts) -> None:
    body = {"items": [item("d"), item("d"), item("d", forloeb=7)]}
    result = signed_client.post(BATCH, body).get_json()
    assert [r["status"] for r in result["items"]] == ["accepted", "duplicate", "rejected"]
    assert result["items"][1]["decision"] == result["items"][0]["decision"]
    assert counts()["Decision"] == 1


def test_repeated_batch_gets_the_first_answer(signed_client, model, counts) -> None:
    body = {"items": [item("r1"), item("r2", uddannelse="phd")]}
    first = signed_client.post(BATCH, body, webhook_id="batch-1")
    again = signed_client.post(BATCH, body, webhook_id="batch-1")
    other = signed_client.post(BATCH, {"items": [item("r3")]}, webhook_id="batch-1")
    assert (again.status_code, again.get_json()) == (200, first.get_json())
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "webhook-id-reused"
    assert counts()["Decision"] == 1


@pytest.mark.parametrize(
    ("body", "field", "code"),
    [
        ({"items": []}, "items", "too-few-items"),
        ({"items": [{}] * 1001}, "items", "too-many-items"),
        ({"items": "x"}, "items", "not-a-list"),
        ({"items": [], "more": 1}, "more", "unknown-field"),
        ([1], "body", "not-an-object"),
    ],
)
def test_bad_batch_envelope_is_422(signed_client, model, counts, body, field, code) -> None:
    response = signed_client.post(BATCH, body)
    assert response.status_code == 422
    assert {"field": field, "code": code} in [
        {k: d[k] for k in ("field", "code")} for d in response.get_json()["error"]["details"]
    ]
    assert counts() == {"Decision": 0, "Delivery": 0, "Job": 0}


@pytest.mark.parametrize(
    "odd", [None, 1, -0.0, "tekst", True, [], [decision_body()], {}, {"id": "x"}]
)
def test_an_item_that_is_not_a_decision_is_rejected_and_the_others_kept(
    signed_client, model, counts, odd
) -> None:
    response = signed_client.post(BATCH, {"items": [item("good-1"), odd, item("good-2")]})
    assert response.status_code == 200
    body = response.get_json()
    assert [r["status"] for r in body["items"]] == ["accepted", "rejected", "accepted"]
    rejected = body["items"][1]
    assert rejected["id"] == (odd.get("id") if isinstance(odd, dict) else None)
    assert rejected["error"]["code"] == "validation-failed"
    if not isinstance(odd, dict):
        details = rejected["error"]["details"]
        assert [(d["field"], d["code"]) for d in details] == [("body", "not-an-object")]
    assert counts() == {"Decision": 2, "Delivery": 3, "Job": 2}


def test_a_full_batch_of_1000_is_accepted(signed_client, model, counts) -> None:
    items = [item(f"bulk-{i}", ledighed_uger=i % 500) for i in range(1000)]
    response = signed_client.post(BATCH, {"items": items})
    assert response.get_json()["counts"]["accepted"] == 1000
    assert counts()["Job"] == 1000


# --- status -----------------------------------------------------------------------------------


def test_status_for_the_sender_only(client, signed_client, model, session) -> None:
    public_id = signed_client.post("/api/v1/decisions", decision_body()).get_json()["id"]
    own = signed_client.get(f"/api/v1/decisions/{public_id}")
    assert own.status_code == 200
    body = own.get_json()
    assert (body["id"], body["status"], body["explanation"]) == (public_id, "pending", None)
    assert body["model"] == {"name": "apitest", "version": "2026.1"}
    other = SignedClient(client, make_sender(session, "nosy"))
    response = other.get(f"/api/v1/decisions/{public_id}")
    assert response.status_code == 404
    assert response.get_json()["error"]["code"] == "not-found"
    assert signed_client.get("/api/v1/decisions/doesnotexist").status_code == 404


def test_status_needs_a_signature(client, signed_client, model) -> None:
    public_id = signed_client.post("/api/v1/decisions", decision_body()).get_json()["id"]
    assert client.get(f"/api/v1/decisions/{public_id}").status_code == 401


def test_ready_status_carries_the_explanation(client, session, app, demo_models) -> None:
    model = demo_models["byggesagsscreening"]
    sender = make_sender(session, "bygge")
    reg = admin.register_model(
        session, model.manifest, model.artifact, model.background_csv, system=sender.system
    )
    admin.activate_model(session, reg.model.name, reg.model.version)
    from portal.demo import demo_citizens, demo_decisions

    body = next(
        b
        for b in demo_decisions(list(demo_models.values()), demo_citizens())
        if b["model"]["name"] == model.name
    )
    signed = SignedClient(client, sender)
    public_id = signed.post("/api/v1/decisions", body).get_json()["id"]
    assert run_due(get_db(app)) == 1
    response = signed.get(f"/api/v1/decisions/{public_id}")
    data = response.get_json()
    assert data["status"] == "ready"
    explanation = data["explanation"]
    total = explanation["base_value"] + sum(f["value"] for f in explanation["features"])
    assert total == pytest.approx(explanation["output"], abs=1e-9)
    assert explanation["output"] == pytest.approx(body["model_output"], abs=1e-6)
    assert {f["key"] for f in explanation["features"]} == set(body["features"])
    assert set(explanation["considerations"]) == {
        c["key"] for c in model.manifest["considerations"]
    }
    repro = explanation["reproducibility"]
    assert repro["artifact_sha256"] == model.artifact_sha256
    assert repro["additivity_error"] <= repro["additivity_tolerance"]
    assert data["output_mismatch"] is False
    decision = session.scalar(select(Decision).where(Decision.public_id == public_id))
    assert decision.status == "ready"

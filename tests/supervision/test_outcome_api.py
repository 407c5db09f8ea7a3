"""The outcome endpoint and the webhook's monitoring block (signed like the other API
calls, with the official standardwebhooks library)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
from typing import Any

import pytest
from sqlalchemy import func, select, text
from standardwebhooks import Webhook

from portal.decisions.models import Decision
from portal.registry import admin
from portal.supervision.models import DecisionOutcome


def decision_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "model": {"name": "tilsynstest", "version": "1"},
        "case": {"reference": "2026-0187046", "title": {"da": "Tilbud om jobrettet indsats"}},
        "subject": {"cpr": "0101901234"},
        "features": {"ledighed_uger": 30, "koen": "k"},
        "model_output": 0.73,
        "decision": {
            "outcome": {"da": "Du tilbydes et forløb med en jobkonsulent."},
            "decided_by": "Jobcenter København, Team Vest",
            "human_decided": True,
            "followed_model": True,
            "decided_at": "2026-05-21T10:00:00Z",
        },
    }
    return {**copy.deepcopy(body), **changes}


class SignedClient:
    """Posts JSON signed with the standardwebhooks library, as a real sender would."""

    def __init__(self, client: Any, session: Any, name: str) -> None:
        system, self.secret = admin.create_system(session, name, "Enhed")
        session.flush()
        admin.grant_model(session, name, "tilsynstest")  # the model is another system's
        self.client, self.name = client, system.name

    def post(self, path: str, body: Any) -> Any:
        data = json.dumps(body)
        webhook_id = f"msg_{secrets.token_hex(8)}"
        at = dt.datetime.now(dt.UTC)
        headers = {
            "x-system": self.name,
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(at.timestamp())),
            "webhook-signature": Webhook(self.secret).sign(webhook_id, at, data),
        }
        return self.client.post(
            path, data=data.encode(), content_type="application/json", headers=headers
        )


@pytest.fixture
def api(session, client, fair_model):
    return SignedClient(client, session, "fagsystem")


def outcomes(session) -> int:
    return session.scalar(select(func.count()).select_from(DecisionOutcome))


def sent(api) -> str:
    answer = api.post("/api/v1/decisions", decision_body())
    assert answer.status_code == 202, answer.get_json()
    return answer.get_json()["id"]


def test_an_outcome_is_recorded_once(session, api) -> None:
    public_id = sent(api)
    first = api.post(f"/api/v1/decisions/{public_id}/outcome", {"actual_positive": True})
    assert first.status_code == 201
    assert first.get_json()["actual_positive"] is True
    again = api.post(f"/api/v1/decisions/{public_id}/outcome", {"actual_positive": True})
    assert again.status_code == 200
    assert again.get_json() == first.get_json()
    other = api.post(f"/api/v1/decisions/{public_id}/outcome", {"actual_positive": False})
    assert other.status_code == 409
    assert other.get_json()["error"]["code"] == "outcome-already-reported"
    assert outcomes(session) == 1


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({}, "missing-field"),
        ({"actual_positive": "yes"}, "wrong-type"),
        ({"actual_positive": True, "extra": 1}, "unknown-field"),
        ({"actual_positive": True, "observed_at": "2026-05-01T10:00:00"}, "timezone-required"),
    ],
)
def test_a_bad_outcome_body_is_refused_and_nothing_stored(session, api, body, code) -> None:
    public_id = sent(api)
    answer = api.post(f"/api/v1/decisions/{public_id}/outcome", body)
    assert answer.status_code == 422
    assert answer.get_json()["error"]["details"][0]["code"] == code
    assert outcomes(session) == 0


def test_another_systems_decision_is_not_found(session, client, api) -> None:
    public_id = sent(api)
    stranger = SignedClient(client, session, "andetsystem")
    answer = stranger.post(f"/api/v1/decisions/{public_id}/outcome", {"actual_positive": True})
    assert answer.status_code == 404
    assert outcomes(session) == 0


def test_unsigned_is_refused(session, client, api) -> None:
    public_id = sent(api)
    answer = client.post(f"/api/v1/decisions/{public_id}/outcome", json={"actual_positive": True})
    assert answer.status_code == 401
    assert outcomes(session) == 0


def test_the_monitoring_block_is_stored_encrypted(session, api) -> None:
    body = decision_body(monitoring={"koen": "kvinde", "aldersgruppe": "30-39", "flygtning": False})
    answer = api.post("/api/v1/decisions", body)
    assert answer.status_code == 202, answer.get_json()
    decision = session.scalar(select(Decision).where(Decision.public_id == answer.get_json()["id"]))
    assert decision.monitoring == {"koen": "kvinde", "aldersgruppe": "30-39", "flygtning": False}
    stored = session.execute(
        text("SELECT monitoring FROM decision WHERE id = :id"), {"id": decision.id}
    ).scalar_one()
    assert b"kvinde" not in bytes(stored)


@pytest.mark.parametrize(
    ("monitoring", "code"),
    [
        ({"Køn": "k"}, "invalid-format"),
        ({"koen": ""}, "too-short"),
        ({"koen": 1.5}, "wrong-type"),
        ({"koen": {"a": 1}}, "wrong-type"),
        ({f"k{i}": "x" for i in range(11)}, "too-many-items"),
    ],
)
def test_a_bad_monitoring_block_is_refused_and_nothing_stored(
    session, api, monitoring, code
) -> None:
    answer = api.post("/api/v1/decisions", decision_body(monitoring=monitoring))
    assert answer.status_code == 422
    codes = {d["code"] for d in answer.get_json()["error"]["details"]}
    assert code in codes, codes
    assert session.scalar(select(func.count()).select_from(Decision)) == 0


def test_the_openapi_document_carries_monitoring_and_outcomes(client) -> None:
    document = client.get("/api/v1/openapi.json").get_json()
    assert "monitoring" in document["components"]["schemas"]["DecisionIn"]["properties"]
    assert "/api/v1/decisions/{id}/outcome" in document["paths"]

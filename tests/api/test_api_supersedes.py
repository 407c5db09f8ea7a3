"""``supersedes``: a corrected decision names the decision it replaces.

The contract: the id from the earlier 202 answer, of a decision the same system sent about
the same person and not replaced yet; anything else is 422 with the field's code and
nothing stored. The OpenAPI document carries the field.
"""

from __future__ import annotations

from typing import Any

import pytest
from api_support import SignedClient, decision_body, make_sender
from sqlalchemy import select

from portal.decisions.models import Decision
from portal.registry import admin

URL = "/api/v1/decisions"


def details(response: Any) -> set[tuple[str, str]]:
    return {(d["field"], d["code"]) for d in response.get_json()["error"]["details"]}


@pytest.fixture
def first(signed_client: SignedClient, model: Any) -> str:
    response = signed_client.post(URL, decision_body(), webhook_id="msg_first")
    assert response.status_code == 202
    return str(response.get_json()["id"])


def corrected(replaced: str, **changes: Any) -> dict[str, Any]:
    body = decision_body(supersedes=replaced, **changes)
    body["features"] = {**body["features"], "ledighed_uger": 12}
    return body


def test_a_corrected_decision_is_linked_to_the_one_it_replaces(
    signed_client: SignedClient, session: Any, first: str
) -> None:
    response = signed_client.post(URL, corrected(first), webhook_id="msg_fix")
    assert response.status_code == 202
    new = session.scalar(select(Decision).where(Decision.public_id == response.get_json()["id"]))
    assert new.supersedes == first
    old = session.scalar(select(Decision).where(Decision.public_id == first))
    assert old is not None  # the old one stays, as history
    again = signed_client.post(URL, corrected(first), webhook_id="msg_fix")
    assert again.status_code == 200  # a repeat answers as the first time


@pytest.mark.parametrize("person", ["same", "other"])
def test_an_unknown_replaced_decision_is_422_and_nothing_is_stored(
    signed_client: SignedClient, counts: Any, first: str, person: str
) -> None:
    before = counts()
    body = corrected("does-not-exist" if person == "same" else first)
    if person == "other":  # a real id, but about another person: as unknown
        body["subject"] = {"cpr": "0202851234"}
    response = signed_client.post(URL, body, webhook_id="msg_bad")
    assert response.status_code == 422
    assert details(response) == {("supersedes", "unknown-superseded-decision")}
    assert counts() == before


def test_another_systems_decision_cannot_be_replaced(
    client: Any, session: Any, counts: Any, first: str, model: Any
) -> None:
    other = SignedClient(client, make_sender(session, "tredjesystem"))
    admin.grant_model(session, "tredjesystem", model.name)  # may post on the model, not replace
    before = counts()
    response = other.post(URL, corrected(first), webhook_id="msg_other")
    assert response.status_code == 422
    assert details(response) == {("supersedes", "unknown-superseded-decision")}
    assert counts() == before


def test_a_decision_is_replaced_once(signed_client: SignedClient, counts: Any, first: str) -> None:
    assert signed_client.post(URL, corrected(first), webhook_id="msg_fix1").status_code == 202
    before = counts()
    response = signed_client.post(URL, corrected(first), webhook_id="msg_fix2")
    assert response.status_code == 422
    assert details(response) == {("supersedes", "decision-already-superseded")}
    assert counts() == before


@pytest.mark.parametrize("value", ["", 12, "x" * 33])
def test_a_malformed_supersedes_is_422(
    signed_client: SignedClient, counts: Any, model: Any, value: Any
) -> None:
    response = signed_client.post(URL, decision_body(supersedes=value), webhook_id="msg_m")
    assert response.status_code == 422
    assert "supersedes" in {f for f, _ in details(response)}
    assert counts() == {"Decision": 0, "Delivery": 0, "Job": 0}


def test_in_a_batch_a_bad_supersedes_rejects_only_its_item(
    signed_client: SignedClient, first: str
) -> None:
    items = [
        {"id": "fix-ok", **corrected(first)},
        {"id": "fix-bad", **corrected("nope")},
    ]
    response = signed_client.post(URL + "/batch", {"items": items}, webhook_id="msg_batch")
    assert response.status_code == 200
    status = {i["id"]: i["status"] for i in response.get_json()["items"]}
    assert status == {"fix-ok": "accepted", "fix-bad": "rejected"}
    bad = next(i for i in response.get_json()["items"] if i["id"] == "fix-bad")
    assert {(d["field"], d["code"]) for d in bad["error"]["details"]} == {
        ("supersedes", "unknown-superseded-decision")
    }


def test_in_a_batch_a_decision_is_replaced_once_too(
    signed_client: SignedClient, first: str, session: Any
) -> None:
    items = [
        {"id": "fix-1", **corrected(first)},
        {"id": "fix-1", **corrected(first)},  # the same item again: a duplicate, not a second
        {"id": "fix-2", **corrected(first)},
    ]
    response = signed_client.post(URL + "/batch", {"items": items}, webhook_id="msg_twice")
    assert response.status_code == 200
    answers = response.get_json()["items"]
    assert [i["status"] for i in answers] == ["accepted", "duplicate", "rejected"]
    assert {(d["field"], d["code"]) for d in answers[2]["error"]["details"]} == {
        ("supersedes", "decision-already-superseded")
    }
    replacing = session.scalars(select(Decision.id).where(Decision.supersedes == first)).all()
    assert len(replacing) == 1


def test_the_openapi_document_carries_supersedes(client: Any) -> None:
    schema = client.get("/api/v1/openapi.json").get_json()
    found = [s for name, s in schema["components"]["schemas"].items() if name == "DecisionIn"]
    assert found
    assert "supersedes" in found[0]["properties"]
    assert "supersedes" not in found[0].get("required", [])

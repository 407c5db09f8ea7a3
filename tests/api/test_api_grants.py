"""Per-model authorisation of machine clients: a system posts decisions only to the model
versions it registered or has been granted (``systems grant``); any other is a 403
``model-not-granted`` on the single endpoint and a rejected item in a batch, and nothing
of it is stored."""

from __future__ import annotations

import copy

import pytest
from api_support import RICH_MANIFEST, SignedClient, decision_body, make_sender
from sqlalchemy import func, select

from portal.decisions.models import Decision
from portal.oversight.models import AuditEvent
from portal.registry import admin
from portal.registry.models import ModelArtifact, ModelVersion

URL = "/api/v1/decisions"
BATCH = "/api/v1/decisions/batch"


def stored(session) -> dict[str, int]:
    return {
        "decisions": session.scalar(select(func.count()).select_from(Decision)),
        "events": session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "decision.received")
        ),
    }


@pytest.fixture
def outsider(client, session):
    """A second system, which registered nothing."""
    return SignedClient(client, make_sender(session, "udenfor"))


def second_version(session, owner_id: int) -> ModelVersion:
    manifest = {**copy.deepcopy(RICH_MANIFEST), "version": "2026.2"}
    version = ModelVersion(
        name=manifest["name"],
        version="2026.2",
        status="active",
        manifest=manifest,
        responsible_unit=manifest["responsible_unit"],
        artifact_sha256="1" * 64,
        registered_by_system_id=owner_id,
        files=ModelArtifact(artifact=b"fake"),
    )
    session.add(version)
    session.flush()
    return version


def not_granted(response) -> None:
    assert response.status_code == 403, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "model-not-granted"
    assert [(d["field"], d["code"]) for d in error["details"]] == [("model", "model-not-granted")]


def test_the_registering_system_may_post(signed_client, model) -> None:
    assert signed_client.post(URL, decision_body()).status_code == 202


def test_another_system_gets_403_and_nothing_is_stored(outsider, model, session) -> None:
    before = stored(session)
    not_granted(outsider.post(URL, decision_body()))
    assert stored(session) == before


def test_the_refusal_tells_nothing_about_the_body(outsider, model, session) -> None:
    """Features are not checked against a manifest the system may not use."""
    body = decision_body()
    body["features"] = {"noget": "andet"}
    not_granted(outsider.post(URL, body))


def test_in_a_batch_the_item_is_rejected_and_the_others_kept(
    signed_client, outsider, model, session
) -> None:
    other = second_version(session, outsider.sender.system.id)
    mine = {"id": "egen", **decision_body(model={"name": other.name, "version": other.version})}
    theirs = {"id": "fremmed", **decision_body()}
    before = stored(session)
    response = outsider.post(BATCH, {"items": [mine, theirs]})
    assert response.status_code == 200
    items = response.get_json()["items"]
    assert [r["status"] for r in items] == ["accepted", "rejected"]
    assert items[1]["error"]["code"] == "model-not-granted"
    assert stored(session)["decisions"] == before["decisions"] + 1


def test_a_grant_of_the_model_covers_every_version(outsider, model, session, sender) -> None:
    later = second_version(session, sender.system.id)
    admin.grant_model(session, outsider.sender.name, model.name)
    assert outsider.post(URL, decision_body()).status_code == 202
    body = decision_body(model={"name": later.name, "version": later.version})
    assert outsider.post(URL, body).status_code == 202


def test_a_grant_of_one_version_covers_only_that_one(outsider, model, session, sender) -> None:
    later = second_version(session, sender.system.id)
    admin.grant_model(session, outsider.sender.name, model.name, later.version)
    not_granted(outsider.post(URL, decision_body()))
    body = decision_body(model={"name": later.name, "version": later.version})
    assert outsider.post(URL, body).status_code == 202


def test_a_revoked_grant_refuses_new_decisions_but_answers_repeats(
    outsider, model, session
) -> None:
    admin.grant_model(session, outsider.sender.name, model.name)
    first = outsider.post(URL, decision_body(), webhook_id="before-revoke")
    assert first.status_code == 202
    admin.revoke_model(session, outsider.sender.name, model.name)
    not_granted(outsider.post(URL, decision_body(), webhook_id="after-revoke"))
    again = outsider.post(URL, decision_body(), webhook_id="before-revoke")
    assert (again.status_code, again.get_json()) == (200, first.get_json())


def test_a_grant_to_another_system_does_not_help(client, outsider, model, session) -> None:
    third = make_sender(session, "tredje")
    admin.grant_model(session, third.name, model.name)
    not_granted(outsider.post(URL, decision_body()))


def test_an_unknown_model_is_still_a_422(outsider, model) -> None:
    body = decision_body(model={"name": "findes-ikke", "version": "1"})
    response = outsider.post(URL, body)
    assert response.status_code == 422
    assert response.get_json()["error"]["details"][0]["code"] == "unknown-model-version"

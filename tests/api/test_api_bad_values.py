"""Values that pass the strict JSON parse but are not valid: each is a 422 naming its field
on the single endpoint, a rejected item (the others kept) in a batch, never a 5xx, and
nothing of it is stored. Each class is tried in several places, not one example."""

from __future__ import annotations

import copy
import datetime as dt
import json
from typing import Any

import pytest
from api_support import decision_body
from sqlalchemy import func, select

from portal.decisions.models import Decision
from portal.oversight.models import AuditEvent

URL = "/api/v1/decisions"
BATCH = "/api/v1/decisions/batch"
HUGE = 10**400  # an integer beyond the float range, written as digits
DEEP = 25  # nested this deep inside a decision: within the parser's 32 levels


def _body_at(path: str) -> tuple[dict[str, Any], Any, str]:
    """A valid decision body (with a reason), the container at ``path`` and the last part."""
    body = decision_body()
    body["decision"]["reason"] = {"da": "Sagsbehandleren vurderede sagen."}
    *parents, last = path.split(".")
    target: Any = body
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target[part]
    return body, target, last


def changed(path: str, value: Any) -> dict[str, Any]:
    """The valid decision body with ``value`` at the dotted ``path`` (created if absent)."""
    body, target, last = _body_at(path)
    target[last] = value
    return body


def renamed_key(path: str, key: str) -> dict[str, Any]:
    """The valid body with ``key`` added next to the value at ``path`` (same value)."""
    body, target, last = _body_at(path)
    target[key] = copy.deepcopy(target[last])
    return body


def nested(depth: int, leaf: Any) -> Any:
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


SURROGATE = "\ud800"
#: (body, field, code): one bad value each.
CASES: dict[str, tuple[dict[str, Any], str, str]] = {
    # lone surrogates, in values and keys, at every depth
    "surrogate case reference": (
        changed("case.reference", f"2026-{SURROGATE}"),
        "case.reference",
        "invalid-text",
    ),
    "surrogate Danish title": (
        changed("case.title.da", f"Titel {SURROGATE}"),
        "case.title.da",
        "invalid-text",
    ),
    "low surrogate decided_by": (
        changed("decision.decided_by", "Team \udfff"),
        "decision.decided_by",
        "invalid-text",
    ),
    "surrogate reason": (
        changed("decision.reason.da", SURROGATE),
        "decision.reason.da",
        "invalid-text",
    ),
    "surrogate cpr": (
        changed("subject.cpr", f"01019{SURROGATE}1234"),
        "subject.cpr",
        "invalid-text",
    ),
    "surrogate model name": (
        changed("model.name", f"apitest{SURROGATE}"),
        "model.name",
        "invalid-text",
    ),
    "surrogate model version": (
        changed("model.version", SURROGATE),
        "model.version",
        "invalid-text",
    ),
    "surrogate category value": (
        changed("features.uddannelse", SURROGATE),
        "features.uddannelse",
        "invalid-text",
    ),
    "surrogate date value": (
        changed("features.tilmeldt", f"2026-01-0{SURROGATE}"),
        "features.tilmeldt",
        "invalid-text",
    ),
    "surrogate nested feature value": (
        changed("features.uddannelse", nested(5, SURROGATE)),
        "features.uddannelse.0.0.0.0.0",
        "invalid-text",
    ),
    "surrogate in a nested object": (
        changed("features.uddannelse", {"a": [{"b": SURROGATE}]}),
        "features.uddannelse.a.0.b",
        "invalid-text",
    ),
    "surrogate feature key": (
        renamed_key("features.forloeb", f"x{SURROGATE}"),
        "features.x\\ud800",
        "invalid-text",
    ),
    "surrogate title language key": (
        renamed_key("case.title.da", "\udc00"),
        "case.title.\\udc00",
        "invalid-text",
    ),
    "surrogate data source key": (
        renamed_key("data_sources.ledighed_uger", SURROGATE),
        "data_sources.\\ud800",
        "invalid-text",
    ),
    "surrogate unknown top-level key": (changed(SURROGATE, 1), "\\ud800", "invalid-text"),
    # integers beyond the float range, in every numeric place (and where text belongs)
    "huge number feature": (
        changed("features.ledighed_uger", HUGE),
        "features.ledighed_uger",
        "not-finite",
    ),
    "huge negative number feature": (
        changed("features.ledighed_uger", -HUGE),
        "features.ledighed_uger",
        "not-finite",
    ),
    "huge integer feature": (changed("features.forloeb", HUGE), "features.forloeb", "not-finite"),
    "huge int in a category": (
        changed("features.uddannelse", HUGE),
        "features.uddannelse",
        "wrong-type",
    ),
    "huge int nested in a feature": (
        changed("features.ledighed_uger", [HUGE]),
        "features.ledighed_uger",
        "wrong-type",
    ),
    "huge model output": (changed("model_output", HUGE), "model_output", "wrong-type"),
    "huge negative model output": (changed("model_output", -HUGE), "model_output", "wrong-type"),
    "huge case reference": (changed("case.reference", HUGE), "case.reference", "wrong-type"),
    "huge decided_at": (changed("decision.decided_at", HUGE), "decision.decided_at", "wrong-type"),
    "huge human_decided": (
        changed("decision.human_decided", HUGE),
        "decision.human_decided",
        "wrong-type",
    ),
    # number-like text and odd floats
    "NaN text as output": (changed("model_output", "NaN"), "model_output", "wrong-type"),
    "Infinity text as feature": (
        changed("features.ledighed_uger", "Infinity"),
        "features.ledighed_uger",
        "wrong-type",
    ),
    "1e400 text as feature": (
        changed("features.forloeb", "1e400"),
        "features.forloeb",
        "wrong-type",
    ),
    "number text as output": (changed("model_output", "0.5"), "model_output", "wrong-type"),
    "fraction for an integer": (
        changed("features.forloeb", 2.5),
        "features.forloeb",
        "not-an-integer",
    ),
    # a probability model's output outside 0-1
    "probability above one": (changed("model_output", 1.0000001), "model_output", "out-of-range"),
    "probability below zero": (changed("model_output", -0.5), "model_output", "out-of-range"),
    "probability far out": (changed("model_output", 1e300), "model_output", "out-of-range"),
    # decided_at: the ends of the calendar with offsets, and odd texts
    "year 1 with a positive offset": (
        changed("decision.decided_at", "0001-01-01T00:00:00+01:00"),
        "decision.decided_at",
        "date-out-of-range",
    ),
    "year 1 with a negative offset": (
        changed("decision.decided_at", "0001-01-01T00:30:00-01:00"),
        "decision.decided_at",
        "date-out-of-range",
    ),
    "year 9999 with a negative offset": (
        changed("decision.decided_at", "9999-12-31T23:59:59-01:00"),
        "decision.decided_at",
        "date-out-of-range",
    ),
    "year 9999 in UTC": (
        changed("decision.decided_at", "9999-12-31T23:59:59Z"),
        "decision.decided_at",
        "date-out-of-range",
    ),
    "before 1900": (
        changed("decision.decided_at", "1899-12-31T22:30:00-01:00"),
        "decision.decided_at",
        "date-out-of-range",
    ),
    "fetched_at at year 1": (
        changed("data_sources.ledighed_uger.fetched_at", "0001-01-01T00:00:00+14:00"),
        "data_sources.ledighed_uger.fetched_at",
        "date-out-of-range",
    ),
    "no offset": (
        changed("decision.decided_at", "2026-05-21T10:00:00"),
        "decision.decided_at",
        "timezone-required",
    ),
    "date only": (
        changed("decision.decided_at", "2026-05-21"),
        "decision.decided_at",
        "timezone-required",
    ),
    "month 13": (
        changed("decision.decided_at", "2026-13-01T00:00:00Z"),
        "decision.decided_at",
        "invalid-format",
    ),
    "offset beyond a day": (
        changed("decision.decided_at", "2026-05-21T10:00:00+25:00"),
        "decision.decided_at",
        "invalid-format",
    ),
    "empty text": (changed("decision.decided_at", ""), "decision.decided_at", "invalid-format"),
    "Unix seconds": (
        changed("decision.decided_at", 1779357600),
        "decision.decided_at",
        "wrong-type",
    ),
    "null": (changed("decision.decided_at", None), "decision.decided_at", "wrong-type"),
    # nesting the parser allows, where a scalar belongs
    "deep list feature": (
        changed("features.uddannelse", nested(DEEP, 1)),
        "features.uddannelse",
        "wrong-type",
    ),
    "deep object as output": (
        changed("model_output", {"a": nested(DEEP, {})}),
        "model_output",
        "wrong-type",
    ),
    "deep list as reference": (
        changed("case.reference", nested(DEEP, "x")),
        "case.reference",
        "wrong-type",
    ),
}
IDS = list(CASES)


def stored(session) -> dict[str, int]:
    return {
        "decisions": session.scalar(select(func.count()).select_from(Decision)),
        "events": session.scalar(select(func.count()).select_from(AuditEvent)),
    }


def fields(error: dict[str, Any]) -> set[tuple[str, str]]:
    return {(d["field"], d["code"]) for d in error["details"]}


@pytest.mark.parametrize(("body", "field", "code"), CASES.values(), ids=IDS)
def test_single_decision_is_a_422_with_its_field(signed_client, model, session, body, field, code):
    before = stored(session)
    response = signed_client.post(URL, json.dumps(body))
    assert response.status_code == 422, response.get_json()
    error = response.get_json()["error"]
    assert error["code"] == "validation-failed"
    assert (field, code) in fields(error)
    assert stored(session) == before


@pytest.mark.parametrize(("body", "field", "code"), CASES.values(), ids=IDS)
def test_batch_rejects_the_item_and_keeps_the_others(
    signed_client, model, session, body, field, code
):
    before = stored(session)
    items = [
        {"id": "ok-1", **decision_body()},
        {"id": "bad", **body},
        {"id": "ok-2", **decision_body()},
    ]
    response = signed_client.post(BATCH, json.dumps({"items": items}))
    assert response.status_code == 200, response.get_json()
    answer = response.get_json()
    assert [r["status"] for r in answer["items"]] == ["accepted", "rejected", "accepted"]
    assert (field, code) in fields(answer["items"][1]["error"])
    assert stored(session)["decisions"] == before["decisions"] + 2


@pytest.mark.parametrize(
    "value",
    [
        "2026-05-21T10:00:00+23:59",
        "2026-05-21T10:00:00-23:59",
        "2026-05-21T10:00:00.123456789Z",
        "1900-01-01T00:00:00Z",
        "2999-12-31T23:59:59Z",
        "2026-05-21t10:00:00z",
    ],
)
def test_odd_but_valid_decided_at_is_stored_in_utc(signed_client, model, session, value):
    response = signed_client.post(URL, json.dumps(changed("decision.decided_at", value)))
    assert response.status_code == 202, response.get_json()
    decided_at = session.scalar(select(Decision.decided_at))
    assert decided_at.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("model_output", -0.0),
        ("model_output", 0),
        ("model_output", 1),
        ("model_output", 1.0),
        ("features.ledighed_uger", -0.0),
        ("features.forloeb", 0.0),
        ("features.ledighed_uger", 520),
        ("features.ledighed_uger", 5e-324),
    ],
)
def test_edge_numbers_that_are_valid_are_accepted(signed_client, model, path, value):
    response = signed_client.post(URL, json.dumps(changed(path, value)))
    assert response.status_code == 202, response.get_json()


def test_a_valid_surrogate_pair_is_ordinary_text(signed_client, model, session):
    """An escaped pair is one character (an emoji), not a lone surrogate."""
    data = json.dumps(changed("case.reference", "2026-\U0001f600"))
    assert "\\ud83d\\ude00" in data
    assert signed_client.post(URL, data).status_code == 202
    assert session.scalar(select(Decision.case_reference)) == "2026-\U0001f600"

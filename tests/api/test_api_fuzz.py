"""Hypothesis drives arbitrary JSON (any text, lone surrogates included, any number, date
texts at the calendar's ends with any offset, nested values) into any place of a valid
decision, through both decision endpoints and model registration. Whatever comes in: no
5xx, an answer the API documents, and nothing half-stored (a refusal stores nothing; in a
batch the other items are stored and only they).

Bounded: each test runs a fixed number of examples with no deadline (a few seconds)."""

from __future__ import annotations

import copy
import datetime as dt
import json
import secrets
from typing import Any

import pytest
from api_support import decision_body, row_counts
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from test_api_models import model_count, post_model

from portal.oversight.models import AuditEvent

pytestmark = pytest.mark.fuzz

URL = "/api/v1/decisions"
BATCH = "/api/v1/decisions/batch"
BOUNDED = settings(
    max_examples=60,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)

# --- arbitrary JSON -------------------------------------------------------------------------

ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=12)
OFFSETS = st.integers(-(24 * 60 - 1), 24 * 60 - 1).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
DATE_TEXTS = st.one_of(
    st.datetimes(timezones=OFFSETS).map(dt.datetime.isoformat),  # years 1 to 9999
    st.datetimes().map(dt.datetime.isoformat),  # no offset
    st.dates().map(dt.date.isoformat),
    st.sampled_from(
        [
            "0001-01-01T00:00:00+01:00",
            "9999-12-31T23:59:59-01:00",
            "2026-05-21T10:00:00+24:00",
            "2026-02-30T10:00:00Z",
            "2026-05-21T24:00:00Z",
            "2026-05-21T10:00:60Z",
            "+2026-05-21T10:00:00Z",
            "2026-05-21T10:00:00.1234567890123Z",
            "2026-05-21 10:00:00+0200",
        ]
    ),
)
NUMBERS = st.one_of(
    st.integers(),
    st.sampled_from([10**400, -(10**400), 2**1024, 2**53 + 1, -0, 10**4000]),
    st.floats(allow_nan=False, allow_infinity=False),
    st.sampled_from([-0.0, 5e-324, 1.7976931348623157e308, 1e-400, 0.5, 1.0000001]),
)
NUMBER_TEXTS = st.sampled_from(["NaN", "Infinity", "-Infinity", "1e400", "-0", "0x10", "1_0"])
SCALARS = st.one_of(st.none(), st.booleans(), NUMBERS, ANY_TEXT, DATE_TEXTS, NUMBER_TEXTS)
JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(ANY_TEXT, inner, max_size=3),
    max_leaves=8,
)


def places(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every place in a JSON value (the value itself included)."""
    out = [path]
    if isinstance(value, dict):
        for key, item in value.items():
            out += places(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            out += places(item, (*path, index))
    return out


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any]) -> Any:
    """``body`` with one to three places replaced, or new keys added, by arbitrary JSON."""
    body = copy.deepcopy(body)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(places(body)))
        if not path:
            if draw(st.integers(0, 9)) == 0:
                return draw(JSON)  # the whole body replaced
            continue
        parent = body
        for part in path[:-1]:
            parent = parent[part]
        if isinstance(parent, dict) and draw(st.booleans()):
            parent[draw(ANY_TEXT)] = draw(JSON)  # a new (maybe unknown, maybe odd) key
        else:
            parent[path[-1]] = draw(JSON)
    return body


def dumped(value: Any) -> str | None:
    """The JSON a sender would send (lone surrogates as \\u escapes), or None for a value
    Python cannot even write (an integer of more than 4,300 digits)."""
    try:
        return json.dumps(value)
    except ValueError:
        return None


def has_nul(value: Any) -> bool:
    """A NUL anywhere: the strict parse refuses the whole body (400 json-nul-character)."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(key) or has_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(has_nul(item) for item in value)
    return False


def everything(session) -> dict[str, int]:
    counts = row_counts(session)
    counts["AuditEvent"] = session.scalar(select(func.count()).select_from(AuditEvent))
    return counts


def assert_documented_error(response: Any, statuses: set[int]) -> None:
    assert response.status_code in statuses, (response.status_code, response.get_json())
    error = response.get_json()["error"]
    assert error["code"]
    assert error["code"] == error["code"].lower()
    for detail in error.get("details", []):
        assert {"field", "code", "message"} <= set(detail)


# --- the decision endpoints -------------------------------------------------------------------


def test_any_json_in_a_single_decision(signed_client, model, session) -> None:
    @BOUNDED
    @given(body=mutated(decision_body()))
    def check(body: Any) -> None:
        data = dumped(body)
        if data is None:
            return
        before = everything(session)
        response = signed_client.post(URL, data, webhook_id=f"fz_{secrets.token_hex(8)}")
        after = everything(session)
        if response.status_code == 202:
            assert after == {
                "Decision": before["Decision"] + 1,
                "Delivery": before["Delivery"] + 1,
                "Job": before["Job"] + 1,
                "AuditEvent": before["AuditEvent"] + 1,
            }
        else:
            # 400: the strict parse (an integer beyond 4,300 digits); 422: everything else
            assert_documented_error(response, {400, 422})
            assert after == before

    check()


def test_any_json_in_a_batch_item_costs_only_that_item(signed_client, model, session) -> None:
    @BOUNDED
    @given(item=mutated({"id": "placeholder", **decision_body()}), odd_id=st.booleans())
    def check(item: Any, odd_id: bool) -> None:
        run = secrets.token_hex(6)
        if isinstance(item, dict) and not odd_id:
            item = {**item, "id": f"{run}-fuzzed"}
        good = [{"id": f"{run}-{n}", **decision_body()} for n in (1, 2)]
        data = dumped({"items": [good[0], item, good[1]]})
        if data is None:
            return
        before = everything(session)
        response = signed_client.post(BATCH, data, webhook_id=f"fzb_{run}")
        if has_nul(item):
            assert response.status_code == 400
            assert response.get_json()["error"]["code"] == "json-nul-character"
            assert everything(session) == before
            return
        assert response.status_code == 200, response.get_json()
        answer = response.get_json()
        statuses = [r["status"] for r in answer["items"]]
        assert statuses[0] == statuses[2] == "accepted"
        assert statuses[1] in ("accepted", "rejected")
        if statuses[1] == "rejected":
            assert answer["items"][1]["error"]["code"] in ("validation-failed", "webhook-id-reused")
        accepted = answer["counts"]["accepted"]
        after = everything(session)
        assert after["Decision"] == before["Decision"] + accepted
        assert after["Job"] == before["Job"] + accepted
        assert after["Delivery"] == before["Delivery"] + accepted + 1  # + the batch's own

    check()


# --- model registration (signed multipart) ----------------------------------------------------


def test_any_json_in_a_model_manifest(client, sender, session, demo_models) -> None:
    bygge = demo_models["byggesagsscreening"]

    @settings(BOUNDED, max_examples=25)
    @given(manifest=mutated(bygge.manifest))
    def check(manifest: Any) -> None:
        if dumped(manifest) is None:
            return
        before = (model_count(session), everything(session)["AuditEvent"])
        response = post_model(
            client,
            sender,
            manifest,
            bygge.artifact,
            bygge.background_csv,
            webhook_id=f"fzm_{secrets.token_hex(8)}",
        )
        if response.status_code in (200, 201):  # the mutation kept a valid manifest
            assert response.get_json()["name"] == manifest["name"]
            if response.status_code == 201:
                assert model_count(session) == before[0] + 1
            return
        # 400: the strict parse; 409: this name and version exists with other content
        assert_documented_error(response, {400, 409, 422})
        assert (model_count(session), everything(session)["AuditEvent"]) == before

    check()

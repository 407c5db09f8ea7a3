"""The public algorithm register: pages and JSON hold every active and retired version with
the publication standards' fields, live figures, and JSON that validates against the
register's own published JSON Schema."""

from __future__ import annotations

import copy
import datetime as dt
import html as html_lib
import re

import pytest
from factories_cases import add_world, demo_models
from jsonschema import Draft202012Validator, FormatChecker

from portal.cases.models import CitizenRequest

REGISTERED = dt.datetime(2026, 1, 10, 9, tzinfo=dt.UTC)
FIRST = dt.datetime(2026, 3, 2, 9, tzinfo=dt.UTC)


def _text(html: str) -> str:
    main = html.split('<main id="main-content"', 1)[1].split("</main>", 1)[0]
    return re.sub(r"\s+", " ", html_lib.unescape(re.sub(r"<[^>]+>", " ", main)))


@pytest.fixture
def schema_validator(client):
    schema = client.get("/algoritmer.schema.json").get_json()
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


@pytest.fixture
def demo_world(session):
    world = add_world(session)
    for version in world.versions.values():
        version.registered_at = REGISTERED
    session.flush()
    return world


def test_register_json_validates_against_its_published_schema(
    client, session, demo_world, decision_factory, model_version_factory, schema_validator
) -> None:
    retired = copy.deepcopy(demo_models()[0].manifest)
    retired["version"] = "2025.1"
    old = model_version_factory(session, retired, status="retired")
    old.registered_at = dt.datetime(2025, 2, 1, tzinfo=dt.UTC)
    old.retired_at = dt.datetime(2026, 1, 9, tzinfo=dt.UTC)
    model_version_factory(session, status="registered")  # not public: never listed
    decision_factory(session, model_version=demo_world.versions["ledighedsrisiko"])
    session.commit()
    body = client.get("/algoritmer.json").get_json()
    errors = sorted(schema_validator.iter_errors(body), key=lambda e: list(e.path))
    assert not errors, [f"{list(e.path)}: {e.message}" for e in errors]
    listed = {(e["name"], e["version"], e["status"]) for e in body["algorithms"]}
    assert listed == {
        ("ledighedsrisiko", "2026.1", "active"),
        ("byggesagsscreening", "2026.1", "active"),
        ("ledighedsrisiko", "2025.1", "retired"),
    }
    one = client.get("/algoritmer/ledighedsrisiko.json").get_json()
    assert not list(schema_validator.iter_errors(one))
    assert [e["version"] for e in one["algorithms"]] == ["2026.1", "2025.1"]


def test_the_validator_rejects_a_broken_entry(client, demo_world, session, schema_validator):
    session.commit()
    body = client.get("/algoritmer.json").get_json()
    del body["algorithms"][0]["risk_class"]
    body["algorithms"][1]["figures"]["override_share"] = 1.5
    assert len(list(schema_validator.iter_errors(body))) == 2


def test_entry_carries_the_model_card_the_manifest_holds(client, demo_world, session) -> None:
    session.commit()
    entry = client.get("/algoritmer/ledighedsrisiko.json").get_json()["algorithms"][0]
    card = entry["model_card"]
    assert card["metrics"]["auc"] > 0.5
    assert card["metrics"]["n_test"] > 0
    assert card["dpia_reference"] == "KK-BIF-DPIA-2026-007 (demo)"
    assert {f["feature"] for f in card["fairness"]["by_feature"]} == {"alder", "bydel"}
    assert entry["risk_class"] == {
        "ai_act": "high-risk",
        "annex_iii": "5(a)",
        "explanation": entry["risk_class"]["explanation"],
    }
    assert entry["contact"]["email"] == "algoritmer@bif.kk.example"
    assert entry["special_category_legal_basis"]["da"].startswith("Databeskyttelsesforordningens")
    health = [f for g in entry["data"] for f in g["features"] if f["key"] == "sygedage_12m"]
    assert health[0]["special_category"]
    assert health[0]["sensitive"]
    assert [g["key"] for g in entry["data"]] == [
        c["key"] for c in demo_world.versions["ledighedsrisiko"].manifest["considerations"]
    ]
    assert entry["retention_days"] == 1095


def test_live_figures_and_in_use_since_is_the_first_decision(
    client, session, demo_world, decision_factory
) -> None:
    version = demo_world.versions["byggesagsscreening"]
    made = [
        decision_factory(session, model_version=version, decided_at=FIRST),
        decision_factory(
            session,
            model_version=version,
            decided_at=FIRST + dt.timedelta(days=5),
            followed_model=False,
        ),
        decision_factory(session, model_version=version, decided_at=FIRST + dt.timedelta(9)),
        decision_factory(session, model_version=version, decided_at=FIRST + dt.timedelta(9)),
    ]
    for decision, status in zip(made, ("received", "in-progress", "answered"), strict=False):
        session.add(
            CitizenRequest(
                decision_id=decision.id,
                subject_key=decision.subject_key,
                kind="human-review",
                message="x",
                status=status,
            )
        )
    session.commit()
    entry = client.get("/algoritmer/byggesagsscreening.json").get_json()["algorithms"][0]
    assert entry["figures"] == {
        "decisions": 4,
        "overridden": 1,
        "override_share": 0.25,
        "open_requests": 2,
    }
    assert entry["dates"]["first_decision_at"] == "2026-03-02T09:00:00Z"
    assert entry["dates"]["registered_at"] == "2026-01-10T09:00:00Z"
    text = _text(client.get("/algoritmer").get_data(as_text=True))
    assert "I brug siden 2. marts 2026" in text
    assert "10. januar 2026" not in text
    card = _text(client.get("/algoritmer/byggesagsscreening").get_data(as_text=True))
    assert "25,0 % (1)" in card


def test_model_card_page_shows_the_standard_fields_in_danish(client, demo_world, session):
    session.commit()
    text = _text(client.get("/algoritmer/ledighedsrisiko").get_data(as_text=True))
    for expected in (
        "Retsgrundlag",
        "Databeskyttelsesforordningens artikel 9",  # the separate basis for health data
        "Menneskeligt tilsyn",
        "Højrisiko efter AI-forordningen (bilag III, punkt 5(a))",
        "algoritmer@bif.kk.example",
        "KK-BIF-DPIA-2026-007 (demo)",
        "AUC",
        "Sygedage",
        "Ja, særlig kategori",
        "1.095 dage efter afgørelsen",
        "Ikke brugt til nogen afgørelse endnu",
    ):
        assert expected in text, expected
    english = client.get("/algoritmer/ledighedsrisiko", headers={"Accept-Language": "en"})
    assert "High-risk under the AI Act" in _text(english.get_data(as_text=True))


def test_a_model_without_register_fields_says_not_stated(
    client, session, model_version_factory
) -> None:
    model_version_factory(session)
    session.commit()
    text = _text(client.get("/algoritmer/testmodel").get_data(as_text=True))
    assert text.count("Ikke oplyst") >= 3  # risk class, contact, retention, DPIA
    entry = client.get("/algoritmer/testmodel.json").get_json()["algorithms"][0]
    assert entry["risk_class"] is None
    assert entry["retention_days"] is None


@pytest.mark.parametrize("url", ["/algoritmer/findes-ikke", "/algoritmer/findes-ikke.json"])
def test_unknown_or_unpublished_model_is_404(client, session, model_version_factory, url):
    model_version_factory(session, status="registered")
    session.commit()
    assert client.get(url).status_code == 404
    assert client.get(url.replace("findes-ikke", "testmodel")).status_code == 404


def test_unknown_model_json_is_a_json_error(client) -> None:
    answer = client.get("/algoritmer/findes-ikke.json")
    assert answer.status_code == 404
    assert answer.get_json()["error"]["code"] == "not-found"


def test_register_json_is_public_and_cacheable(client, demo_world, session) -> None:
    session.commit()
    answer = client.get("/algoritmer.json")
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.headers["Cache-Control"].startswith("public")


def test_the_figures_are_kept_for_the_configured_seconds(
    session, demo_world, decision_factory
) -> None:
    from portal.registry.services import FiguresCache

    version = demo_world.versions["byggesagsscreening"]
    cache = FiguresCache()
    assert cache.get(session, [version.id], 60)[version.id].decisions == 0
    decision_factory(session, model_version=version)
    assert cache.get(session, [version.id], 60)[version.id].decisions == 0  # kept
    assert cache.get(session, [version.id], 0)[version.id].decisions == 1  # 0: no cache
    cache.clear()
    assert cache.get(session, [version.id], 60)[version.id].decisions == 1

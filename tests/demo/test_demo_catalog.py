"""Demo citizens and the decision webhook bodies built for them."""

from __future__ import annotations

import io
import json
import re
from collections import Counter
from datetime import UTC, date, datetime
from itertools import product
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from stdnum.dk import cpr as stdnum_cpr

from explainers.loading import load_artifact
from portal.decisions.cpr import passes_modulus_11
from portal.demo import (
    BYGGESAG,
    LEDIGHED,
    DemoModel,
    build_demo_models,
    cpr_birth_date,
    demo_citizens,
    demo_decisions,
    feature_frame,
)
from portal.demo.catalog import age_on
from portal.demo.picking import NEAR_THRESHOLD, OVERRIDDEN, SENSITIVE

NOW = datetime(2026, 11, 29, 9, 0, tzinfo=UTC)
ISO_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


@pytest.fixture(scope="module")
def models() -> dict[str, DemoModel]:
    return {m.name: m for m in build_demo_models()}


@pytest.fixture(scope="module")
def decisions(models: dict[str, DemoModel]) -> list[dict[str, Any]]:
    return demo_decisions(list(models.values()), demo_citizens(), 2026, NOW)


def _when(text: str) -> datetime:
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)


# --------------------------------------------------------------------------- citizens


def test_demo_citizens_have_valid_fictional_cprs() -> None:
    citizens = demo_citizens()
    assert 4 <= len(citizens) <= 6
    assert len({c.cpr for c in citizens}) == len(citizens)
    for citizen in citizens:
        assert re.fullmatch(r"\d{10}", citizen.cpr)
        assert stdnum_cpr.get_birth_date(citizen.cpr) == citizen.birth_date
        assert cpr_birth_date(citizen.cpr) == citizen.birth_date
        assert citizen.birth_date.day == 1
        assert not passes_modulus_11(citizen.cpr), "demo CPRs deliberately fail modulus 11"
        assert citizen.name.startswith("Demo-borger ")


def test_cpr_century_rule() -> None:
    assert cpr_birth_date("0102034011") == date(2003, 2, 1)
    assert cpr_birth_date("0102404011") == date(1940, 2, 1)
    assert cpr_birth_date("0102585011") == date(1858, 2, 1)
    assert cpr_birth_date("0102991011") == date(1999, 2, 1)
    with pytest.raises(ValueError, match="birth date"):
        cpr_birth_date("3102991011")


def test_one_citizen_without_cases_has_no_decisions(decisions: list[dict[str, Any]]) -> None:
    without = [c for c in demo_citizens() if not c.cases]
    assert len(without) == 1
    assert all(d["subject"]["cpr"] != without[0].cpr for d in decisions)


def test_demo_citizens_get_the_cases_listed_on_them(decisions: list[dict[str, Any]]) -> None:
    per_cpr = Counter(d["subject"]["cpr"] for d in decisions)
    for citizen in demo_citizens():
        assert per_cpr[citizen.cpr] == len(citizen.cases)
        assert len(citizen.cases) <= 3
        models_of_citizen = sorted(
            d["model"]["name"] for d in decisions if d["subject"]["cpr"] == citizen.cpr
        )
        assert models_of_citizen == sorted(case.model for case in citizen.cases)


# --------------------------------------------------------------------------- decisions


def test_same_seed_and_now_give_the_same_decisions(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    again = demo_decisions(list(models.values()), demo_citizens(), 2026, NOW)
    assert json.dumps(again, sort_keys=True) == json.dumps(decisions, sort_keys=True)
    other = demo_decisions(list(models.values()), demo_citizens(), 2027, NOW)
    assert other != decisions


def test_now_must_be_timezone_aware(models: dict[str, DemoModel]) -> None:
    naive = datetime(2026, 11, 29)  # noqa: DTZ001 - a naive datetime is what must be refused
    with pytest.raises(ValueError, match="timezone"):
        demo_decisions(list(models.values()), demo_citizens(), 2026, naive)


def test_decisions_follow_the_webhook_contract(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    assert 30 <= len(decisions) <= 60
    assert {d["model"]["name"] for d in decisions} == {LEDIGHED, BYGGESAG}
    references = [d["case"]["reference"] for d in decisions]
    assert len(set(references)) == len(references)
    for body in decisions:
        json.dumps(body, allow_nan=False)
        assert set(body) == {
            "model",
            "case",
            "subject",
            "features",
            "data_sources",
            "model_output",
            "decision",
        }
        model = models[body["model"]["name"]]
        assert body["model"] == {"name": model.name, "version": "2026.1"}
        assert set(body["case"]) == {"reference", "title"}
        assert re.fullmatch(r"\d{4}-\d{7}", body["case"]["reference"])
        assert body["case"]["title"]["da"]
        assert body["case"]["title"]["en"]
        assert set(body["subject"]) == {"cpr"}
        assert stdnum_cpr.get_birth_date(body["subject"]["cpr"]).day == 1
        _check_features(model, body["features"])
        decision = body["decision"]
        # a reason only where the caseworker did not follow the unemployment model
        has_reason = not decision["followed_model"] and model.name == "ledighedsrisiko"
        assert set(decision) - {"reason"} == {
            "outcome",
            "decided_by",
            "human_decided",
            "followed_model",
            "decided_at",
        }
        assert ("reason" in decision) == has_reason
        if has_reason:
            assert decision["reason"]["da"]
            assert decision["reason"]["en"]
        assert decision["outcome"]["da"]
        assert decision["outcome"]["en"]
        assert decision["human_decided"] is True
        assert isinstance(decision["followed_model"], bool)
        assert "Team" in decision["decided_by"]
        assert ISO_UTC.match(decision["decided_at"])
        decided_at = _when(decision["decided_at"])
        assert decided_at < NOW
        assert set(body["data_sources"]) == set(body["features"])
        for source in body["data_sources"].values():
            assert set(source) == {"fetched_at"}
            assert ISO_UTC.match(source["fetched_at"])
            assert _when(source["fetched_at"]) <= decided_at


def _check_features(model: DemoModel, features: dict[str, Any]) -> None:
    specs = model.manifest["features"]
    assert list(features) == [f["key"] for f in specs]
    for spec in specs:
        value = features[spec["key"]]
        if spec["type"] == "boolean":
            assert isinstance(value, bool)
        elif spec["type"] == "category":
            assert value in spec["categories"]
        elif spec["type"] == "integer":
            assert type(value) is int
            assert spec["min"] <= value <= spec["max"]
        else:
            assert isinstance(value, int | float)
            assert not isinstance(value, bool)
            assert spec["min"] <= value <= spec["max"]


def test_model_output_is_what_the_loaded_artifact_predicts(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    for name, model in models.items():
        loaded = load_artifact(model.artifact)  # the allowlist, never the file's own list
        bodies = [d for d in decisions if d["model"]["name"] == name]
        frame = feature_frame(model.manifest, [d["features"] for d in bodies])
        positive = list(loaded.classes_).index(1)
        recomputed = loaded.predict_proba(frame)[:, positive]
        recorded = np.array([d["model_output"] for d in bodies])
        np.testing.assert_allclose(recorded, recomputed, rtol=0, atol=1e-12)


def test_outcome_matches_model_and_followed_flag(decisions: list[dict[str, Any]]) -> None:
    followed = [d["decision"]["followed_model"] for d in decisions]
    assert sum(followed) >= 0.75 * len(followed)
    assert followed.count(False) >= 2
    # model -> {whether the decision acted on a positive: the outcome texts used}
    outcome_of: dict[str, dict[bool, set[str]]] = {d["model"]["name"]: {} for d in decisions}
    for body in decisions:
        positive = body["model_output"] >= 0.5
        acted_positive = positive == body["decision"]["followed_model"]
        outcome_of[body["model"]["name"]].setdefault(acted_positive, set()).add(
            body["decision"]["outcome"]["da"]
        )
    for outcomes in outcome_of.values():
        assert all(len(texts) == 1 for texts in outcomes.values())
        if len(outcomes) == 2:
            assert outcomes[True] != outcomes[False]


def test_ages_agree_with_the_cpr(decisions: list[dict[str, Any]]) -> None:
    for body in decisions:
        if body["model"]["name"] != LEDIGHED:
            continue
        birth = stdnum_cpr.get_birth_date(body["subject"]["cpr"])
        decided = _when(body["decision"]["decided_at"]).date()
        assert body["features"]["alder"] == age_on(birth, decided)


def test_other_citizens_give_fairness_data(decisions: list[dict[str, Any]]) -> None:
    demo = {c.cpr for c in demo_citizens()}
    others = [d for d in decisions if d["subject"]["cpr"] not in demo]
    assert len(others) >= 30
    districts = {d["features"]["bydel"] for d in others if d["model"]["name"] == LEDIGHED}
    assert len(districts) >= 5
    assert all(not passes_modulus_11(d["subject"]["cpr"]) for d in others)


def _demo_case_decisions(decisions: list[dict[str, Any]], scenario: str) -> list[dict[str, Any]]:
    """Decisions of demo citizens whose case has ``scenario`` (one case per model each)."""
    found = []
    for citizen in demo_citizens():
        for case in citizen.cases:
            if case.scenario != scenario:
                continue
            mine = [
                d
                for d in decisions
                if d["subject"]["cpr"] == citizen.cpr and d["model"]["name"] == case.model
            ]
            found.extend(mine)
    return found


def test_near_threshold_cases_have_a_counterfactual(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    near = _demo_case_decisions(decisions, NEAR_THRESHOLD)
    assert {d["model"]["name"] for d in near} == {LEDIGHED, BYGGESAG}
    flipped_somewhere = 0
    for body in near:
        model = models[body["model"]["name"]]
        if not 0.5 <= body["model_output"] < 0.65:
            continue
        candidates = []
        for spec in model.manifest["features"]:
            if not spec["actionable"] or spec["sensitive"]:
                continue
            key, value = spec["key"], body["features"][spec["key"]]
            if spec["type"] == "boolean":
                options: list[Any] = [not value]
            elif spec["type"] == "category":
                options = [c for c in spec["categories"] if c != value]
            else:
                options = [value + step for step in range(1, 6) if value + step <= spec["max"]]
            candidates += [{**body["features"], key: option} for option in options]
        if np.any(model.predict_positive(candidates) < 0.5):
            flipped_somewhere += 1
    assert flipped_somewhere >= 2


def test_overridden_cases_did_not_follow_the_model(decisions: list[dict[str, Any]]) -> None:
    assert _demo_case_decisions(decisions, OVERRIDDEN)
    for citizen in demo_citizens():
        expected = Counter(c.model for c in citizen.cases if c.scenario == OVERRIDDEN)
        actual = Counter(
            d["model"]["name"]
            for d in decisions
            if d["subject"]["cpr"] == citizen.cpr and not d["decision"]["followed_model"]
        )
        assert actual == expected


def test_a_sensitive_feature_is_among_the_top_shap_contributors(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    shap = pytest.importorskip("shap")
    model = models[LEDIGHED]
    (body,) = _demo_case_decisions(decisions, SENSITIVE)
    preprocess, booster = model.estimator[0], model.estimator[-1]
    # The model's own background sample, as the portal uses it.
    background_rows = pd.read_csv(io.BytesIO(model.background_csv)).to_dict("records")
    background = preprocess.transform(feature_frame(model.manifest, background_rows))
    x = preprocess.transform(feature_frame(model.manifest, [body["features"]]))
    explainer = shap.TreeExplainer(booster, data=background, feature_perturbation="interventional")
    values = explainer.shap_values(x)[0]
    columns = preprocess.get_feature_names_out()
    per_feature: dict[str, float] = {}
    specs = model.manifest["features"]
    for column, value in zip(columns, values, strict=True):
        transformer, name = column.split("__", 1)
        key = next(
            s["key"]
            for s in specs
            if (name == s["key"] if transformer == "tal" else name.startswith(s["key"] + "_"))
        )
        per_feature[key] = per_feature.get(key, 0.0) + float(value)
    top3 = sorted(per_feature, key=lambda k: -abs(per_feature[k]))[:3]
    sensitive = {s["key"] for s in specs if s["sensitive"]}
    assert sensitive & set(top3), per_feature
    log_odds = np.log(body["model_output"] / (1 - body["model_output"]))
    assert abs(explainer.expected_value + values.sum() - log_odds) < 1e-6


def test_every_scenario_is_used() -> None:
    used = {case.scenario for c in demo_citizens() for case in c.cases}
    assert used == {"typical", NEAR_THRESHOLD, SENSITIVE, OVERRIDDEN}


def test_all_feature_combinations_of_booleans_are_accepted(models: dict[str, DemoModel]) -> None:
    model = models[BYGGESAG]
    base = {
        "antal_bilag": 4,
        "byggeri_type": "raekkehus",
        "etageareal_m2": 90.0,
        "ansoeger_type": "professionel",
        "tidligere_afslag": 0,
    }
    rows = [
        {**base, "statisk_dokumentation": a, "situationsplan": b, "fredet_omraade": c}
        for a, b, c in product([True, False], repeat=3)
    ]
    p = model.predict_positive(rows)
    assert p.shape == (8,)
    assert np.all((p > 0) & (p < 1))


def test_decision_features_pass_the_portal_row_check(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    encoding = pytest.importorskip("explainers.encoding")
    manifest_module = pytest.importorskip("explainers.manifest")
    if not hasattr(encoding, "row_problems") or not hasattr(manifest_module, "parse_manifest"):
        pytest.skip("explainers row validation is not available yet")
    parsed = {name: manifest_module.parse_manifest(m.manifest) for name, m in models.items()}
    for body in decisions:
        assert encoding.row_problems(parsed[body["model"]["name"]], body["features"]) == []


def test_the_portal_model_bundle_recomputes_every_model_output(
    models: dict[str, DemoModel], decisions: list[dict[str, Any]]
) -> None:
    bundle_module = pytest.importorskip("explainers.bundle")
    if not hasattr(bundle_module, "ModelBundle") or not hasattr(bundle_module, "predict"):
        pytest.skip("explainers.bundle is not available yet")
    for name, model in models.items():
        bundle = bundle_module.ModelBundle.from_bytes(
            model.artifact, model.manifest, model.background_csv
        )
        bodies = [d for d in decisions if d["model"]["name"] == name]
        recomputed = bundle_module.predict(bundle, [d["features"] for d in bodies])
        recorded = [d["model_output"] for d in bodies]
        np.testing.assert_allclose(recomputed, recorded, rtol=0, atol=1e-9)


def test_the_demo_uses_the_portal_cpr_rule() -> None:
    """One century rule: the demo's birth dates are the API's (``portal.decisions.cpr``)."""
    from portal.decisions import cpr
    from portal.demo import catalog

    assert catalog.birth_date is cpr.birth_date
    source = Path(catalog.__file__).read_text("utf-8")
    assert "1800" not in source
    assert "% 11" not in source
    assert cpr.century_digits(1950) == (0, 1, 2, 3, 4, 9)
    assert cpr.century_digits(2003) == (4, 5, 6, 7, 8, 9)
    assert cpr.century_digits(1858) == (5, 6, 7, 8)
    for year in (1900, 1937, 1999, 2000, 2036, 2057):
        for digit in cpr.century_digits(year):
            assert stdnum_cpr.get_birth_date(f"0101{year % 100:02d}{digit}000").year == year

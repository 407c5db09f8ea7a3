"""What a municipality stands behind: the manifest's allowed directions of change, which
outcomes get a counterfactual, recommendations, special categories and their legal basis."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from explainers_testdata import Case, make_manifest, make_rows

from explainers import ModelBundle, counterfactual, parse_manifest, predict
from explainers.validation import validate_manifest

ROWS = make_rows(40, seed=77)
TEXT = {"da": "tekst", "en": "text"}


def _codes(manifest: dict[str, Any]) -> set[str]:
    return {p.code for p in validate_manifest(manifest)}


def _feature(manifest: dict[str, Any], key: str) -> dict[str, Any]:
    return next(f for f in manifest["features"] if f["key"] == key)


# --------------------------------------------------------------------------- manifest


@pytest.mark.parametrize(
    ("declared", "direction", "actionable"),
    [
        (True, "both", True),
        (False, None, False),
        ("increase", "increase", True),
        ("decrease", "decrease", True),
        ("both", "both", True),
    ],
)
def test_actionable_direction_is_parsed(declared: Any, direction: Any, actionable: bool) -> None:
    manifest = make_manifest()
    _feature(manifest, "timer_pr_uge")["actionable"] = declared
    assert validate_manifest(manifest) == []
    spec = parse_manifest(manifest).feature("timer_pr_uge")
    assert spec.actionable_direction == direction
    assert spec.actionable is actionable


def test_absent_actionable_means_never() -> None:
    manifest = make_manifest()
    del _feature(manifest, "timer_pr_uge")["actionable"]
    spec = parse_manifest(manifest).feature("timer_pr_uge")
    assert spec.actionable is False
    assert spec.actionable_direction is None


@pytest.mark.parametrize("declared", ["sideways", "up", 1, None, ["increase"], {"a": 1}])
def test_other_actionable_values_are_refused(declared: Any) -> None:
    manifest = make_manifest()
    _feature(manifest, "timer_pr_uge")["actionable"] = declared
    assert "invalid-actionable" in _codes(manifest)


@pytest.mark.parametrize("declared", [True, "increase", "both"])
def test_a_sensitive_feature_is_never_actionable(declared: Any) -> None:
    manifest = make_manifest()
    _feature(manifest, "alder")["actionable"] = declared  # alder is sensitive
    assert "sensitive-actionable" in _codes(manifest)
    # a version stored before this rule still parses, and the feature is not actionable
    assert parse_manifest(manifest).feature("alder").actionable is False


def test_special_category_needs_its_legal_basis_and_is_never_actionable() -> None:
    manifest = make_manifest()
    feature = _feature(manifest, "ledighed_uger")
    feature["special_category"] = True
    assert _codes(manifest) == {"missing-special-category-legal-basis"}
    feature["actionable"] = "decrease"
    assert "special-category-actionable" in _codes(manifest)
    feature["actionable"] = False
    manifest["special_category_legal_basis"] = {"en": "art. 9"}
    assert _codes(manifest) == {"missing-danish-text"}
    manifest["special_category_legal_basis"] = {"da": "Databeskyttelsesforordningens art. 9"}
    feature["legal_basis"] = {"da": "Lov om en aktiv beskæftigelsesindsats"}
    assert validate_manifest(manifest) == []
    parsed = parse_manifest(manifest)
    assert parsed.special_category_legal_basis == {"da": "Databeskyttelsesforordningens art. 9"}
    spec = parsed.feature("ledighed_uger")
    assert spec.special_category is True
    assert spec.legal_basis == {"da": "Lov om en aktiv beskæftigelsesindsats"}
    feature["legal_basis"] = {"en": "x"}
    assert "missing-danish-text" in _codes(manifest)
    feature["special_category"] = "yes"
    assert "not-a-boolean" in _codes(manifest)


@pytest.mark.parametrize("value", ["above", "below", "both", "none"])
def test_counterfactual_for_is_parsed(value: str) -> None:
    manifest = make_manifest()
    manifest["output"]["counterfactual_for"] = value
    assert parse_manifest(manifest).counterfactual_for == value


def test_counterfactual_for_defaults_to_both_and_refuses_other_values() -> None:
    manifest = make_manifest()
    assert parse_manifest(manifest).counterfactual_for == "both"
    manifest["output"]["counterfactual_for"] = "against-the-citizen"
    assert _codes(manifest) == {"invalid-counterfactual-for"}


def test_recommendation_is_validated_and_exposed() -> None:
    manifest = make_manifest()
    above = {"da": "Modellen anbefaler ekstra hjælp.", "en": "The model recommends extra help."}
    below = {"da": "Modellen anbefaler de almindelige samtaler."}
    manifest["output"]["recommendation"] = {"above": above, "below": below}
    assert validate_manifest(manifest) == []
    parsed = parse_manifest(manifest)
    assert parsed.recommendation == {"above": above, "below": below}
    assert parsed.recommendation_for(0.7) == above
    assert parsed.recommendation_for(0.5) == above  # at the threshold counts as above
    assert parsed.recommendation_for(0.2) == below
    assert parse_manifest(make_manifest()).recommendation is None

    def problems(recommendation: Any, kind: str = "probability") -> set[str]:
        changed = make_manifest(kind)
        changed["output"]["recommendation"] = recommendation
        return _codes(changed)

    assert problems({"above": above}) == {"missing-text"}
    assert problems({"above": {"en": "x"}, "below": below}) == {"missing-danish-text"}
    assert problems({"above": above, "below": below, "middle": below}) == {
        "unknown-recommendation-side"
    }
    assert problems("help") == {"invalid-recommendation"}
    assert problems({"above": above, "below": below}, kind="score") == {
        "recommendation-needs-threshold"
    }


# --------------------------------------------------------------------------- search


def _only(case: Case, key: str, direction: Any, **output: Any) -> ModelBundle:
    """The case's model with only ``key`` actionable, in ``direction``."""
    manifest = copy.deepcopy(case.manifest)
    for feature in manifest["features"]:
        feature["actionable"] = direction if feature["key"] == key else False
        if feature["key"] == key:
            feature["sensitive"] = False
    manifest["output"].update(output)
    return ModelBundle.from_bytes(case.artifact, manifest, case.background)


@pytest.fixture(scope="module")
def near_rows(bundles: dict[str, ModelBundle]) -> list[dict[str, Any]]:
    """Rows with ``ledighed_uger`` (never actionable here) set so the logistic model's outputs
    are 0.47 or 0.53: close enough to the threshold for one change of any type to cross."""
    rows = [dict(r) for r in ROWS[:16]]
    targets = [(0.47, 0.53)[i % 2] for i in range(len(rows))]
    lo, hi = [0.0] * len(rows), [520.0] * len(rows)
    for _ in range(30):  # bisection, all rows at once: more weeks, higher risk
        for i, row in enumerate(rows):
            row["ledighed_uger"] = (lo[i] + hi[i]) / 2
        for i, output in enumerate(predict(bundles["logit"], rows)):
            if output < targets[i]:
                lo[i] = rows[i]["ledighed_uger"]
            else:
                hi[i] = rows[i]["ledighed_uger"]
    return rows


def _moved(spec: Any, old: Any, new: Any) -> int:
    """+1 when new is higher than old (categories: later in the list), -1 when lower."""
    if spec.type == "category":
        old, new = spec.categories.index(old), spec.categories.index(new)
    return 1 if new > old else -1


@pytest.mark.parametrize("key", ["timer_pr_uge", "alder", "kursus", "uddannelse"])
@pytest.mark.parametrize("direction", ["increase", "decrease", "both"])
def test_search_never_suggests_a_forbidden_direction(
    cases: dict[str, Case], near_rows: list[dict[str, Any]], key: str, direction: str
) -> None:
    """Numbers, integers, booleans and categories; cases on both sides of the threshold."""
    bundle = _only(cases["logit"], key, direction)
    spec = bundle.manifest.feature(key)
    moves = set()
    for row in near_rows:
        result = counterfactual(bundle, row, max_evaluations=300)
        if result.status != "found":
            assert result.status == "none-within-bounds"
            continue
        (change,) = result.changes
        assert change.feature == key
        moves.add(_moved(spec, change.old, change.new))
    allowed = {"increase": {1}, "decrease": {-1}, "both": {1, -1}}[direction]
    assert moves, "the test rows must give some counterfactual"
    assert moves <= allowed
    if direction == "both":
        assert moves == {1, -1}


def test_a_boolean_that_may_only_increase_goes_false_to_true_only(
    cases: dict[str, Case], near_rows: list[dict[str, Any]]
) -> None:
    bundle = _only(cases["logit"], "kursus", "increase")
    found = 0
    for row in near_rows:
        result = counterfactual(bundle, row, max_evaluations=300)
        if row["kursus"]:
            assert result.status == "none-within-bounds"
        elif result.status == "found":
            assert [(c.old, c.new) for c in result.changes] == [(False, True)]
            found += 1
    assert found


@pytest.mark.parametrize(
    ("side", "shown_for_above", "shown_for_below"),
    [("above", True, False), ("below", False, True), ("both", True, True), ("none", False, False)],
)
def test_counterfactual_only_for_the_outcomes_the_model_names(
    cases: dict[str, Case], side: str, shown_for_above: bool, shown_for_below: bool
) -> None:
    bundle = _only(cases["logit"], "timer_pr_uge", "both", counterfactual_for=side)
    outputs = predict(bundle, ROWS)
    seen = {True: set(), False: set()}
    for row, output in zip(ROWS, outputs, strict=True):
        result = counterfactual(bundle, row, max_evaluations=200)
        seen[output >= 0.5].add(result.status != "not-for-this-outcome")
        if result.status == "not-for-this-outcome":
            assert result.changes == ()
            assert result.new_output is None
    assert seen[True] == {shown_for_above}
    assert seen[False] == {shown_for_below}


def test_a_change_crossing_the_threshold_reports_the_exact_new_output(
    cases: dict[str, Case],
) -> None:
    """A case at 0.54 with threshold 0.5: the change lands below 0.5, and new_output is the
    model's own float for the changed case (what the page formats as e.g. "49,6 %")."""
    bundle = _only(cases["logit"], "timer_pr_uge", "increase", threshold=0.5)
    row = dict(ROWS[0])
    lo, hi = 0.0, 520.0  # more weeks unemployed, higher risk: bisect to an output of 0.54
    for _ in range(60):
        row["ledighed_uger"] = (lo + hi) / 2
        if predict(bundle, [row])[0] < 0.54:
            lo = row["ledighed_uger"]
        else:
            hi = row["ledighed_uger"]
    original = predict(bundle, [row])[0]
    assert original == pytest.approx(0.54, abs=1e-6)
    if row["timer_pr_uge"] > 35:
        row["timer_pr_uge"] = 20.0
        original = predict(bundle, [row])[0]
    result = counterfactual(bundle, row)
    assert result.status == "found"
    assert result.original_output == original
    assert result.new_output is not None
    assert result.new_output < 0.5
    (change,) = result.changes
    assert change.new > change.old
    assert result.new_output == predict(bundle, [{**row, change.feature: change.new}])[0]
    assert result.to_dict()["new_output"] == result.new_output  # not rounded when stored

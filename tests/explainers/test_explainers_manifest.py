"""Manifest validation: structure, against the model, background, and cost estimates."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import skops.io as sio
from explainers_testdata import BACKGROUND_ROWS, TRAIN_ROWS, Case, background_csv, to_frame
from sklearn.ensemble import RandomForestClassifier

from explainers import (
    FeatureSpec,
    Manifest,
    ManifestError,
    ModelBundle,
    estimate_cost,
    parse_manifest,
    validate_bundle,
    validate_manifest,
)
from explainers.encoding import row_problems

Mutate = Callable[[dict[str, Any], Callable[[dict[str, Any]], None]], dict[str, Any]]


def codes(problems: list[Any]) -> set[tuple[str, str]]:
    return {(p.path, p.code) for p in problems}


def test_valid_manifest_has_no_problems(manifest: dict[str, Any]) -> None:
    assert validate_manifest(manifest) == []


def test_every_structural_problem_is_reported_at_once(
    manifest: dict[str, Any], mutate: Mutate
) -> None:
    def break_it(m: dict[str, Any]) -> None:
        del m["name"]
        m["title"] = {"en": "English only"}
        m["output"]["kind"] = "ranking"
        m["features"][1]["categories"] = []
        m["features"][2]["consideration"] = "ukendt"
        m["features"][3]["min"], m["features"][3]["max"] = 50, 10
        m["features"][4]["type"] = "text"
        m["features"][5]["key"] = "uddannelse"
        m["features"][0]["label"] = {"da": " "}
        m["considerations"].append({"key": "beskaeftigelse", "label": {"da": "x"}})

    problems = validate_manifest(mutate(manifest, break_it))
    assert codes(problems) >= {
        ("name", "missing-field"),
        ("title.da", "missing-danish-text"),
        ("output.kind", "invalid-output-kind"),
        ("features[1].categories", "missing-categories"),
        ("features[2].consideration", "unknown-consideration"),
        ("features[3].min", "min-greater-than-max"),
        ("features[4].type", "invalid-feature-type"),
        ("features[5].key", "duplicate-key"),
        ("features[0].label.da", "missing-danish-text"),
        ("considerations[3].key", "duplicate-key"),
    }
    for problem in problems:
        assert problem.code == problem.code.lower()
        assert " " not in problem.code
        assert set(problem.to_dict()) == {"path", "code", "message", "detail"}


def test_not_an_object() -> None:
    assert [p.code for p in validate_manifest([])] == ["not-an-object"]  # type: ignore[arg-type]


def test_parse_manifest_gives_frozen_typed_form(manifest: dict[str, Any]) -> None:
    parsed = parse_manifest(manifest)
    assert isinstance(parsed, Manifest)
    assert parsed.feature_keys[0] == "ledighed_uger"
    spec = parsed.feature("alder")
    assert isinstance(spec, FeatureSpec)
    assert (spec.type, spec.sensitive, spec.min, spec.max) == ("integer", True, 18.0, 70.0)
    assert parsed.decision_threshold == 0.5
    with pytest.raises(AttributeError):
        spec.key = "x"  # type: ignore[misc]


def test_parse_manifest_raises_with_all_problems(manifest: dict[str, Any], mutate: Mutate) -> None:
    def two(m: dict[str, Any]) -> None:
        m["version"] = ""
        m["features"][0]["consideration"] = "nope"

    with pytest.raises(ManifestError) as info:
        parse_manifest(mutate(manifest, two))
    assert codes(list(info.value.problems)) == {
        ("version", "missing-field"),
        ("features[0].consideration", "unknown-consideration"),
    }


def test_threshold_from_manifest(manifest: dict[str, Any], mutate: Mutate) -> None:
    m = mutate(manifest, lambda m: m["output"].update(threshold=0.3))
    assert parse_manifest(m).decision_threshold == 0.3
    bad = mutate(manifest, lambda m: m["output"].update(threshold=1.5))
    assert ("output.threshold", "threshold-out-of-range") in codes(validate_manifest(bad))


@pytest.mark.parametrize("name", ["hgb", "rf", "xgb", "lgbm", "logit", "ridge", "knn"])
def test_manifest_matches_each_model(cases: dict[str, Case], name: str) -> None:
    case = cases[name]
    assert validate_manifest(case.manifest, case.model) == []
    assert validate_bundle(case.artifact, case.manifest, case.background) == []


def test_features_are_matched_as_a_set_not_in_order(cases: dict[str, Case], mutate: Mutate) -> None:
    case = cases["hgb"]
    reordered = mutate(case.manifest, lambda m: m["features"].reverse())
    assert validate_manifest(reordered, case.model) == []


def test_feature_mismatch_with_model(cases: dict[str, Case], mutate: Mutate) -> None:
    case = cases["hgb"]

    def rename(m: dict[str, Any]) -> None:
        m["features"][0]["key"] = "uger_ledig"

    problems = validate_manifest(mutate(case.manifest, rename), case.model)
    assert codes(problems) == {
        ("features[0].key", "feature-not-in-model"),
        ("features", "model-feature-missing"),
    }
    missing = next(p for p in problems if p.code == "model-feature-missing")
    assert missing.detail == {"key": "ledighed_uger"}


def test_category_list_must_equal_the_fitted_encoder(
    cases: dict[str, Case], mutate: Mutate
) -> None:
    case = cases["logit"]

    def change(m: dict[str, Any]) -> None:
        m["features"][1]["categories"] = ["grundskole", "gymnasial", "erhvervsfaglig", "phd"]

    problems = validate_manifest(mutate(case.manifest, change), case.model)
    assert codes(problems) == {("features[1].categories", "categories-mismatch")}
    assert problems[0].detail == {"only_in_model": ["videregaaende"], "only_in_manifest": ["phd"]}


def test_output_kind_and_positive_class_against_model(
    cases: dict[str, Case], mutate: Mutate
) -> None:
    as_score = mutate(cases["hgb"].manifest, lambda m: m["output"].update(kind="score"))
    assert codes(validate_manifest(as_score, cases["hgb"].model)) == {
        ("output.kind", "output-kind-mismatch")
    }
    wrong_class = mutate(cases["hgb"].manifest, lambda m: m["output"].update(positive_class=7))
    assert codes(validate_manifest(wrong_class, cases["hgb"].model)) == {
        ("output.positive_class", "unknown-positive-class")
    }
    as_probability = mutate(
        cases["ridge"].manifest, lambda m: m["output"].update(kind="probability")
    )
    assert ("output.kind", "output-kind-mismatch") in codes(
        validate_manifest(as_probability, cases["ridge"].model)
    )


def test_category_without_encoder_is_a_problem(manifest: dict[str, Any]) -> None:
    frame = to_frame(TRAIN_ROWS)
    numeric = frame.drop(columns=["uddannelse", "omraade"])
    numeric["uddannelse"] = 0.0
    numeric["omraade"] = 1.0
    model = RandomForestClassifier(n_estimators=3, random_state=0).fit(
        numeric, np.arange(len(frame)) % 2
    )
    problems = validate_manifest(manifest, model)
    assert ("features[1].type", "category-not-encoded") in codes(problems)


def test_background_required_for_linear_and_permutation(cases: dict[str, Case]) -> None:
    for name in ("logit", "knn"):
        case = cases[name]
        problems = validate_bundle(case.artifact, case.manifest, None)
        assert codes(problems) == {("background", "background-required")}
        with pytest.raises(ManifestError) as info:
            ModelBundle.from_bytes(case.artifact, case.manifest, None)
        assert info.value.problems[0].code == "background-required"
    tree = cases["hgb"]
    assert validate_bundle(tree.artifact, tree.manifest, None) == []
    assert ModelBundle.from_bytes(tree.artifact, tree.manifest, None).background is None


def test_background_problems_are_listed(cases: dict[str, Case]) -> None:
    case = cases["logit"]
    good = background_csv(BACKGROUND_ROWS[:3]).decode().splitlines()
    header = good[0]
    bad_rows = [
        good[1]
        .replace("grundskole", "ukendt")
        .replace("gymnasial", "ukendt")
        .replace("erhvervsfaglig", "ukendt")
        .replace("videregaaende", "ukendt")
    ]
    csv = "\n".join([header, *bad_rows, "1,2"]).encode()
    codes_found = {p.code for p in validate_bundle(case.artifact, case.manifest, csv)}
    assert codes_found == {"unknown-category", "wrong-field-count"}
    no_col = "\n".join(line.rsplit(",", 1)[0] for line in good).encode()
    assert codes(validate_bundle(case.artifact, case.manifest, no_col)) == {
        ("background.header.seneste_job", "missing-column")
    }


def test_row_problems_name_each_field(manifest: dict[str, Any]) -> None:
    parsed = parse_manifest(manifest)
    row = dict(BACKGROUND_ROWS[0])
    assert row_problems(parsed, row) == []
    row.update(
        ledighed_uger="30",
        alder=40.5,
        uddannelse="phd",
        kursus=1,
        seneste_job="2020-13-01",
        ukendt=1,
    )
    del row["timer_pr_uge"]
    assert codes(row_problems(parsed, row)) == {
        ("ledighed_uger", "wrong-type"),
        ("alder", "not-an-integer"),
        ("uddannelse", "unknown-category"),
        ("kursus", "wrong-type"),
        ("seneste_job", "invalid-date"),
        ("timer_pr_uge", "missing-feature"),
        ("ukendt", "unknown-feature"),
    }


def test_estimate_cost_flags_deep_forests(cases: dict[str, Case]) -> None:
    small = estimate_cost(cases["xgb"].model)
    assert (small.family, small.trees, small.high) == ("tree", 40, False)
    assert small.max_depth <= 3
    assert small.units > 0
    frame = to_frame(TRAIN_ROWS)
    rng = np.random.default_rng(0)
    deep = RandomForestClassifier(n_estimators=300, random_state=0).fit(
        frame.drop(columns=["uddannelse", "omraade"]), rng.integers(0, 2, len(frame))
    )
    estimate = estimate_cost(deep)
    assert estimate.high
    assert estimate.units > 50 * small.units
    assert estimate.to_dict()["high"] is True
    assert estimate_cost(cases["logit"].model).family == "linear"


def test_estimate_cost_through_skops_round_trip(cases: dict[str, Case]) -> None:
    from explainers import load_artifact

    for name in ("hgb", "lgbm", "rf"):
        model = load_artifact(sio.dumps(cases[name].model))
        assert estimate_cost(model).trees > 0

"""The demo manifests are JSON files in the contract's format, checked like any manifest."""

from __future__ import annotations

import ast
import json
from importlib import resources
from pathlib import Path

import pytest

from explainers.manifest import parse_manifest
from explainers.validation import validate_bundle, validate_manifest
from portal.demo import BYGGESAG, LEDIGHED, MODEL_VERSION, build_demo_models
from portal.demo.manifests import NAMES, base_manifest

DEMO = Path(__file__).resolve().parents[2] / "portal" / "demo"


@pytest.mark.parametrize("name", NAMES)
def test_manifest_is_a_packaged_json_file_that_validates(name: str) -> None:
    text = resources.files("portal.demo").joinpath("manifests", f"{name}.json").read_text("utf-8")
    raw = json.loads(text)
    assert raw == base_manifest(name)
    assert raw["name"] == name
    assert raw["version"] == MODEL_VERSION
    assert validate_manifest(raw) == []
    assert parse_manifest(raw).name == name


def test_manifest_files_are_package_data() -> None:
    pyproject = (DEMO.parents[1] / "pyproject.toml").read_text("utf-8")
    assert '"demo/manifests/*.json"' in pyproject


def test_base_manifest_is_a_fresh_copy() -> None:
    first = base_manifest(LEDIGHED)
    first["features"].clear()
    assert base_manifest(LEDIGHED)["features"]


def test_no_manifest_is_built_in_python() -> None:
    source = (DEMO / "manifests.py").read_text("utf-8")
    strings = [n.value for n in ast.walk(ast.parse(source)) if isinstance(n, ast.Constant)]
    assert "Risiko for langvarig ledighed" not in strings
    assert len(source.splitlines()) < 150


def test_trained_models_register_with_their_manifests() -> None:
    """What ``POST /api/v1/models`` checks (``validate_bundle``) passes for both."""
    for model in build_demo_models():
        assert model.name in (LEDIGHED, BYGGESAG)
        assert validate_bundle(model.artifact, model.manifest, model.background_csv) == []


def _features(name: str) -> dict[str, dict]:
    return {f["key"]: f for f in base_manifest(name)["features"]}


def test_what_a_municipality_stands_behind_in_the_unemployment_model() -> None:
    raw = base_manifest(LEDIGHED)
    features = _features(LEDIGHED)
    # a proxy for national origin: sensitive, never suggested for change
    assert features["dansk_niveau"]["sensitive"] is True
    assert features["dansk_niveau"]["actionable"] is False
    # health data: GDPR art. 9, with the basis cited; never actionable
    sick = features["sygedage_12m"]
    assert sick["special_category"] is True
    assert sick["actionable"] is False
    assert "artikel 9, stk. 2, litra b" in raw["special_category_legal_basis"]["da"]
    assert "databeskyttelseslovens § 7" in raw["special_category_legal_basis"]["da"]
    assert features["alder"]["sensitive"] is True
    assert features["bydel"]["sensitive"] is True
    # never suggest fewer applications, never suggest leaving the a-kasse
    assert features["jobsoeg_aktivitet"]["actionable"] == "increase"
    assert features["a_kasse"]["actionable"] == "increase"
    parsed = parse_manifest(raw)
    actionable = {f.key for f in parsed.features if f.actionable}
    assert actionable == {"jobsoeg_aktivitet", "a_kasse", "uddannelse"}
    assert not any(f.sensitive or f.special_category for f in parsed.features if f.actionable)


@pytest.mark.parametrize("name", NAMES)
def test_each_demo_model_says_what_it_recommends_and_when_a_counterfactual_is_shown(
    name: str,
) -> None:
    parsed = parse_manifest(base_manifest(name))
    assert parsed.counterfactual_for == "above"  # the outcome that goes against the citizen
    assert parsed.recommendation is not None
    for side in ("above", "below"):
        assert parsed.recommendation[side]["da"].startswith("Modellen anbefaler")
        assert parsed.recommendation[side]["en"].startswith("The model recommends")
    for feature in base_manifest(name)["features"]:
        assert feature["actionable"] in (False, "increase"), feature["key"]


def test_demo_counterfactuals_only_suggest_allowed_changes() -> None:
    from explainers import ModelBundle, counterfactual
    from portal.demo import demo_citizens, demo_decisions

    models = build_demo_models()
    bundles = {
        m.name: ModelBundle.from_bytes(m.artifact, m.manifest, m.background_csv) for m in models
    }
    found = 0
    for body in demo_decisions(models, demo_citizens())[:24]:
        bundle = bundles[body["model"]["name"]]
        result = counterfactual(bundle, body["features"])
        above = body["model_output"] >= 0.5
        if not above:
            assert result.status == "not-for-this-outcome"
            continue
        for change in result.changes:
            spec = bundle.manifest.feature(change.feature)
            assert spec.actionable_direction == "increase"
            if spec.type == "category":
                assert spec.categories.index(change.new) > spec.categories.index(change.old)
            else:
                assert change.new > change.old
        found += result.status == "found"
        if result.status == "found":
            assert result.new_output < 0.5
    assert found

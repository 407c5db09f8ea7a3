"""The demo models: determinism, manifests, artifacts, quality and background data."""

from __future__ import annotations

import ast
import csv
import io
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import skops.io as sio
from sklearn.metrics import roc_auc_score

from explainers import loading
from portal.demo import BYGGESAG, LEDIGHED, DemoModel, build_demo_models, feature_frame
from portal.demo.synthetic import byggesag_population, ledighed_population

# What the artifacts may contain beyond skops' own default-trusted types; anything new
# here has to be added to the portal's allowlist too.
EXPECTED_UNTRUSTED = {"sklearn.tree._tree.Tree"}

TOP_LEVEL_KEYS = {
    "name",
    "version",
    "title",
    "purpose",
    "legal_basis",
    "responsible_unit",
    "human_oversight",
    "output",
    "considerations",
    "features",
    "model_card",
    # the register and retention fields (explainers/manifest_register.py)
    "description",
    "risk_class",
    "contact",
    "retention_days",
}
FEATURE_KEYS = {
    "key",
    "type",
    "label",
    "unit",
    "unit_one",
    "source",
    "consideration",
    "actionable",
    "sensitive",
    "min",
    "max",
    "categories",
    "category_labels",
    "legal_basis",
    "special_category",
}


@pytest.fixture(scope="module")
def models() -> dict[str, DemoModel]:
    return {m.name: m for m in build_demo_models()}


def _load(model: DemoModel) -> Any:
    """Through the portal's allowlist loader, never trusting the file's own type list."""
    assert set(sio.get_untrusted_types(data=model.artifact)) <= EXPECTED_UNTRUSTED
    return loading.load_artifact(model.artifact)


def test_both_models_are_built(models: dict[str, DemoModel]) -> None:
    assert set(models) == {LEDIGHED, BYGGESAG}
    for name, model in models.items():
        assert model.manifest["name"] == name
        assert model.manifest["version"] == "2026.1"


def test_same_seed_gives_identical_artifacts_and_manifests(
    models: dict[str, DemoModel],
) -> None:
    again = {m.name: m for m in build_demo_models(2026)}
    for name, model in models.items():
        assert again[name].artifact_sha256 == model.artifact_sha256
        assert again[name].artifact == model.artifact
        assert again[name].background_csv == model.background_csv
        assert again[name].manifest == model.manifest


def test_other_seed_gives_other_artifacts(models: dict[str, DemoModel]) -> None:
    other = {m.name: m for m in build_demo_models(7)}
    for name, model in models.items():
        assert other[name].artifact_sha256 != model.artifact_sha256


def test_sha256_is_of_the_artifact(models: dict[str, DemoModel]) -> None:
    import hashlib

    for model in models.values():
        assert hashlib.sha256(model.artifact).hexdigest() == model.artifact_sha256


def test_artifact_loads_with_explicit_trusted_list_and_predicts_the_same(
    models: dict[str, DemoModel],
) -> None:
    for model in models.values():
        loaded = _load(model)
        rows = _csv_rows(model)
        frame = feature_frame(model.manifest, rows)
        np.testing.assert_array_equal(
            loaded.predict_proba(frame), model.estimator.predict_proba(frame)
        )


def test_artifact_is_refused_without_trust(models: dict[str, DemoModel]) -> None:
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.loads(models[LEDIGHED].artifact, trusted=[])


@pytest.mark.parametrize(
    ("name", "population"), [(LEDIGHED, ledighed_population), (BYGGESAG, byggesag_population)]
)
def test_auc_on_fresh_held_out_data_is_above_0_7(
    models: dict[str, DemoModel], name: str, population: Any
) -> None:
    model = models[name]
    rows, y, _ = population(np.random.default_rng(987_654), 1500)
    p = model.predict_positive(rows)
    assert roc_auc_score(y, p) > 0.7
    assert model.manifest["model_card"]["metrics"]["auc"] > 0.7


def test_metrics_and_fairness_are_computed(models: dict[str, DemoModel]) -> None:
    for model in models.values():
        card = model.manifest["model_card"]
        metrics = card["metrics"]
        assert 0.5 < metrics["auc"] < 1.0
        assert 0.5 < metrics["accuracy"] < 1.0
        assert metrics["n_test"] > 500
        by_feature = card["fairness"]["by_feature"]
        assert by_feature
        for entry in by_feature:
            assert sum(g["n"] for g in entry["groups"]) == metrics["n_test"]
            assert all(0.0 <= g["selection_rate"] <= 1.0 for g in entry["groups"])
    fair_ledighed = models[LEDIGHED].manifest["model_card"]["fairness"]["by_feature"]
    assert {e["feature"] for e in fair_ledighed} == {"alder", "bydel"}


def test_models_learn_sensible_directions(models: dict[str, DemoModel]) -> None:
    ledighed = models[LEDIGHED]
    person = {
        "ledighed_uger": 10,
        "tidligere_forloeb": 0,
        "jobsoeg_aktivitet": 8,
        "a_kasse": True,
        "uddannelse": "erhvervsfaglig",
        "dansk_niveau": "modersmaal",
        "sygedage_12m": 5,
        "alder": 40,
        "bydel": "valby",
    }
    short, long_, low_edu, high_edu = ledighed.predict_positive(
        [
            person,
            {**person, "ledighed_uger": 104},
            {**person, "uddannelse": "grundskole"},
            {**person, "uddannelse": "videregaaende"},
        ]
    )
    assert long_ > short + 0.1
    assert low_edu > high_edu

    byggesag = models[BYGGESAG]
    application = {
        "antal_bilag": 6,
        "statisk_dokumentation": False,
        "situationsplan": True,
        "byggeri_type": "enfamiliehus",
        "etageareal_m2": 150.0,
        "fredet_omraade": False,
        "ansoeger_type": "privat",
        "tidligere_afslag": 0,
    }
    without, with_statics, more_docs = byggesag.predict_positive(
        [
            application,
            {**application, "statisk_dokumentation": True},
            {**application, "antal_bilag": 15},
        ]
    )
    assert with_statics < without
    assert more_docs < without


def _texts(node: Any, path: str = "") -> list[tuple[str, dict[str, str]]]:
    """Every {da, en} text object in a manifest, with its path."""
    found = []
    if isinstance(node, dict):
        if "da" in node or "en" in node:
            found.append((path, node))
        else:
            for key, value in node.items():
                found.extend(_texts(value, f"{path}.{key}"))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            found.extend(_texts(value, f"{path}[{i}]"))
    return found


def test_manifests_follow_the_contract(models: dict[str, DemoModel]) -> None:
    for model in models.values():
        manifest = model.manifest
        assert set(manifest) - {"special_category_legal_basis"} == TOP_LEVEL_KEYS
        assert manifest["output"]["kind"] == "probability"
        assert manifest["output"]["positive_class"] == 1
        assert manifest["output"]["threshold"] == 0.5
        assert manifest["responsible_unit"] in {
            "Beskæftigelses- og Integrationsforvaltningen",
            "Teknik- og Miljøforvaltningen",
        }
        card = manifest["model_card"]
        assert {"training_data", "metrics", "fairness", "dpia_reference", "contact"} <= set(card)
        for feature in manifest["features"]:
            assert set(feature) <= FEATURE_KEYS
            assert feature["actionable"] in (False, "increase", "decrease", "both")
            assert isinstance(feature["sensitive"], bool)
            if feature["type"] in ("number", "integer"):
                assert feature["min"] < feature["max"]
            if feature["type"] == "category":
                assert set(feature["category_labels"]) == set(feature["categories"])
            if feature["sensitive"]:
                assert not feature["actionable"]


def test_every_feature_belongs_to_a_declared_consideration(
    models: dict[str, DemoModel],
) -> None:
    for model in models.values():
        declared = [c["key"] for c in model.manifest["considerations"]]
        assert len(declared) == len(set(declared))
        used = {f["consideration"] for f in model.manifest["features"]}
        assert used <= set(declared)
        assert used == set(declared), "a declared consideration without features"


def test_danish_and_english_texts_everywhere(models: dict[str, DemoModel]) -> None:
    for model in models.values():
        manifest = model.manifest
        texts = _texts(manifest)
        assert len(texts) > 40
        for path, text in texts:
            assert text.get("da", "").strip(), f"{path} has no Danish text"
            assert text.get("en", "").strip(), f"{path} has no English text"
        for name in ("title", "purpose", "legal_basis", "human_oversight"):
            assert manifest[name]["da"]
        for consideration in manifest["considerations"]:
            assert consideration["label"]["da"]
            assert consideration["legal_basis"]["da"]
        for feature in manifest["features"]:
            assert feature["label"]["da"]
            assert feature["source"]["da"]
            for label in feature.get("category_labels", {}).values():
                assert label["da"]


def test_flags_of_ledighed_features(models: dict[str, DemoModel]) -> None:
    features = {f["key"]: f for f in models[LEDIGHED].manifest["features"]}
    assert features["alder"]["sensitive"]
    assert not features["alder"]["actionable"]
    assert features["bydel"]["sensitive"]
    assert features["uddannelse"]["actionable"]
    assert features["ledighed_uger"]["source"]["da"] == "Det Fælles Datagrundlag (STAR)"
    assert features["ledighed_uger"]["consideration"] == "beskaeftigelse"
    assert not features["ledighed_uger"]["actionable"]
    assert features["alder"]["source"]["da"] == "CPR-registret"


def _csv_rows(model: DemoModel) -> list[dict[str, Any]]:
    types = {f["key"]: f["type"] for f in model.manifest["features"]}
    rows = []
    for raw in csv.DictReader(io.StringIO(model.background_csv.decode("utf-8"))):
        row: dict[str, Any] = {}
        for key, text in raw.items():
            if types[key] == "boolean":
                assert text in ("true", "false")
                row[key] = text == "true"
            elif types[key] in ("number", "integer"):
                row[key] = float(text) if types[key] == "number" else int(text)
            else:
                row[key] = text
        rows.append(row)
    return rows


def test_background_csv(models: dict[str, DemoModel]) -> None:
    for model in models.values():
        features = model.manifest["features"]
        header = model.background_csv.decode("utf-8").splitlines()[0].split(",")
        assert header == [f["key"] for f in features]
        rows = _csv_rows(model)
        assert len(rows) == 200
        frame = pd.read_csv(io.BytesIO(model.background_csv))
        for feature in features:
            column = frame[feature["key"]]
            if feature["type"] == "category":
                assert set(column) <= set(feature["categories"])
            elif feature["type"] in ("number", "integer"):
                assert column.min() >= feature["min"]
                assert column.max() <= feature["max"]


def test_feature_frame_orders_columns_and_types_values(models: dict[str, DemoModel]) -> None:
    manifest = models[BYGGESAG].manifest
    row = {
        "tidligere_afslag": 1,
        "ansoeger_type": "privat",
        "fredet_omraade": True,
        "etageareal_m2": 120,
        "byggeri_type": "tilbygning",
        "situationsplan": "false",
        "statisk_dokumentation": False,
        "antal_bilag": 3,
    }
    frame = feature_frame(manifest, [row])
    assert list(frame.columns) == [f["key"] for f in manifest["features"]]
    assert frame["etageareal_m2"].dtype == np.float64
    assert frame["antal_bilag"].dtype == np.int64
    assert frame.loc[0, "fredet_omraade"] == 1
    assert frame.loc[0, "situationsplan"] == 0
    with pytest.raises(KeyError):
        feature_frame(manifest, [{k: v for k, v in row.items() if k != "antal_bilag"}])


def test_unknown_category_is_an_error_not_ignored(models: dict[str, DemoModel]) -> None:
    model = models[LEDIGHED]
    row = dict(_csv_rows(model)[0], bydel="aarhus_c")
    with pytest.raises(ValueError, match="unknown categor"):
        model.predict_positive([row])


def test_demo_package_imports_no_web_or_database_code() -> None:
    """The data and models are pure; only ``seed.py`` (the CLI that posts them) is web-side.
    Of the rest of the portal only ``portal.decisions.cpr`` (framework-free: the one CPR rule)."""
    package = Path(__file__).resolve().parents[2] / "portal" / "demo"
    files = sorted(f for f in package.glob("*.py") if f.name != "seed.py")
    assert files
    for file in files:
        tree = ast.parse(file.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                assert top not in {"flask", "flask_babel", "flask_wtf", "sqlalchemy", "wtforms"}
                if top == "portal":
                    allowed = name.startswith("portal.demo") or name == "portal.decisions.cpr"
                    assert allowed, f"{file.name} imports {name}"


def _explainers_function(module: str, name: str) -> Any:
    """A function of the explainers package, or skip (it is built alongside this one)."""
    found = getattr(pytest.importorskip(module), name, None)
    if found is None:
        pytest.skip(f"{module}.{name} is not available yet")
    return found


def test_manifests_validate_against_their_models(models: dict[str, DemoModel]) -> None:
    validate_manifest = _explainers_function("explainers.validation", "validate_manifest")
    for model in models.values():
        assert validate_manifest(model.manifest, model.estimator) == []


def test_bundles_validate_as_a_registration_would(models: dict[str, DemoModel]) -> None:
    validate_bundle = _explainers_function("explainers.validation", "validate_bundle")
    for model in models.values():
        assert validate_bundle(model.artifact, model.manifest, model.background_csv) == []


def test_artifacts_load_with_the_portal_allowlist(models: dict[str, DemoModel]) -> None:
    for model in models.values():
        assert loading.refused_types(model.artifact) == []
        loaded = loading.load_artifact(model.artifact)
        frame = feature_frame(model.manifest, _csv_rows(model)[:20])
        np.testing.assert_array_equal(
            loaded.predict_proba(frame), model.estimator.predict_proba(frame)
        )

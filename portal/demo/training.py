"""Train the two demo models at seed time and package them as the portal expects them.

``build_demo_models`` returns, per model, the manifest (with metrics and fairness
computed on a held-out split), the ``.skops`` artifact, its sha256, and a background
sample as CSV. The same seed gives byte-identical artifacts: skops names arrays after
``id()`` of the objects and stamps zip entries with the current time, so the archive is
rewritten with stable names and a fixed timestamp (see ``_canonical_skops``).
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import skops.io as sio
from sklearn.compose import ColumnTransformer
from sklearn.ensemble import GradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import accuracy_score, brier_score_loss, roc_auc_score
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from portal.demo.manifests import BYGGESAG, LEDIGHED, base_manifest, feature_frame
from portal.demo.synthetic import Row, byggesag_population, ledighed_population

N_LEDIGHED = 4000
N_BYGGESAG = 3000
TEST_SHARE = 0.25
BACKGROUND_ROWS = 200


@dataclass(frozen=True)
class DemoModel:
    """A trained demo model, ready to register with the portal.

    ``manifest`` follows the DESIGN.md manifest contract; ``artifact`` is the
    ``skops.io.dumps`` of the fitted pipeline (canonicalised, so it is byte-stable);
    ``background_csv`` has a header of feature keys in manifest order, categories as
    their keys and booleans as ``true``/``false``; ``estimator`` is the fitted
    pipeline itself (for tests and for computing ``model_output``).
    """

    manifest: dict[str, Any]
    artifact: bytes
    artifact_sha256: str
    background_csv: bytes
    estimator: Any

    @property
    def name(self) -> str:
        return str(self.manifest["name"])

    @property
    def version(self) -> str:
        return str(self.manifest["version"])

    @property
    def threshold(self) -> float:
        return float(self.manifest["output"]["threshold"])

    def predict_positive(self, rows: Sequence[Mapping[str, Any]]) -> np.ndarray:
        """Probability of the positive class for JSON feature rows."""
        return positive_probability(self.estimator, self.manifest, rows)


def positive_probability(
    estimator: Any, manifest: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> np.ndarray:
    """``predict_proba`` for the manifest's positive class, on JSON feature rows."""
    proba = estimator.predict_proba(feature_frame(manifest, rows))
    column = list(estimator.classes_).index(manifest["output"]["positive_class"])
    return np.asarray(proba[:, column], dtype="float64")


def build_demo_models(seed: int = 2026) -> list[DemoModel]:
    """Train both demo models; deterministic for a given ``seed``."""
    return [_build_ledighed(seed), _build_byggesag(seed)]


# --------------------------------------------------------------------------- models


def _encoder(manifest: Mapping[str, Any], keys: list[str]) -> OneHotEncoder:
    by_key = {f["key"]: f for f in manifest["features"]}
    return OneHotEncoder(
        categories=[list(by_key[k]["categories"]) for k in keys],
        handle_unknown="error",
        sparse_output=False,
        dtype=np.float64,
    )


def _split_keys(manifest: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    categorical = [f["key"] for f in manifest["features"] if f["type"] == "category"]
    numeric = [f["key"] for f in manifest["features"] if f["type"] != "category"]
    return categorical, numeric


def _build_ledighed(seed: int) -> DemoModel:
    manifest = base_manifest(LEDIGHED)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 1]))
    rows, y, _ = ledighed_population(rng, N_LEDIGHED)
    categorical, numeric = _split_keys(manifest)
    pipeline = Pipeline(
        [
            (
                "forbehandling",
                ColumnTransformer(
                    [
                        ("kategorier", _encoder(manifest, categorical), categorical),
                        # An identity scaler rather than "passthrough": once fitted,
                        # "passthrough" becomes a FunctionTransformer, which the
                        # portal's artifact allowlist refuses (it could run any code).
                        ("tal", StandardScaler(with_mean=False, with_std=False), numeric),
                    ]
                ),
            ),
            (
                "model",
                GradientBoostingClassifier(
                    n_estimators=100, max_depth=3, learning_rate=0.1, random_state=seed
                ),
            ),
        ]
    )
    groups = {
        "alder": lambda row: _age_band(row["alder"]),
        "bydel": lambda row: row["bydel"],
    }
    return _fit_and_package(manifest, pipeline, rows, y, rng, groups)


def _build_byggesag(seed: int) -> DemoModel:
    manifest = base_manifest(BYGGESAG)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 2]))
    rows, y, _ = byggesag_population(rng, N_BYGGESAG)
    categorical, numeric = _split_keys(manifest)
    pipeline = Pipeline(
        [
            (
                "forbehandling",
                ColumnTransformer(
                    [
                        ("kategorier", _encoder(manifest, categorical), categorical),
                        ("tal", StandardScaler(), numeric),
                    ]
                ),
            ),
            ("model", LogisticRegression(C=1.0, max_iter=1000)),
        ]
    )
    groups = {
        "ansoeger_type": lambda row: row["ansoeger_type"],
        "byggeri_type": lambda row: row["byggeri_type"],
    }
    return _fit_and_package(manifest, pipeline, rows, y, rng, groups)


def _age_band(age: int) -> str:
    if age < 30:
        return "18-29"
    if age < 50:
        return "30-49"
    return "50-67"


def _fit_and_package(
    manifest: dict[str, Any],
    pipeline: Pipeline,
    rows: list[Row],
    y: np.ndarray,
    rng: np.random.Generator,
    groups: Mapping[str, Any],
) -> DemoModel:
    order = rng.permutation(len(rows))
    n_test = round(len(rows) * TEST_SHARE)
    test_idx, train_idx = order[:n_test], order[n_test:]
    train_rows = [rows[i] for i in train_idx]
    test_rows = [rows[i] for i in test_idx]
    y_train, y_test = y[train_idx], y[test_idx]

    pipeline.fit(feature_frame(manifest, train_rows), y_train)

    threshold = float(manifest["output"]["threshold"])
    p_test = positive_probability(pipeline, manifest, test_rows)
    manifest["model_card"]["metrics"] = {
        "auc": _r(roc_auc_score(y_test, p_test)),
        "accuracy": _r(accuracy_score(y_test, (p_test >= threshold).astype(int))),
        "brier_score": _r(brier_score_loss(y_test, p_test)),
        "positive_rate": _r(float(np.mean(y_test))),
        "n_train": len(train_rows),
        "n_test": len(test_rows),
        "evaluated_on": "held_out",
    }
    manifest["model_card"]["fairness"] = _fairness(test_rows, y_test, p_test, threshold, groups)

    background_idx = np.sort(rng.choice(len(train_rows), size=BACKGROUND_ROWS, replace=False))
    background = [train_rows[i] for i in background_idx]
    artifact = _canonical_skops(sio.dumps(pipeline))
    return DemoModel(
        manifest=manifest,
        artifact=artifact,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        background_csv=rows_to_csv(manifest, background),
        estimator=pipeline,
    )


def _r(value: float) -> float:
    return round(float(value), 4)


def _fairness(
    rows: list[Row],
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    groups: Mapping[str, Any],
) -> dict[str, Any]:
    by_feature = []
    for feature, group_of in groups.items():
        labels = np.asarray([group_of(row) for row in rows], dtype=object)
        entries = []
        for group in sorted(set(labels.tolist())):
            mask = labels == group
            y_g, p_g = y[mask], p[mask]
            auc = _r(roc_auc_score(y_g, p_g)) if len(set(y_g.tolist())) == 2 else None
            entries.append(
                {
                    "group": group,
                    "n": int(mask.sum()),
                    "selection_rate": _r(np.mean(p_g >= threshold)),
                    "observed_rate": _r(np.mean(y_g)),
                    "mean_output": _r(np.mean(p_g)),
                    "auc": auc,
                }
            )
        rates = [e["selection_rate"] for e in entries]
        by_feature.append(
            {
                "feature": feature,
                "groups": entries,
                "max_selection_rate_gap": _r(max(rates) - min(rates)),
            }
        )
    return {
        "evaluated_on": "held_out",
        "threshold": threshold,
        "description": {
            "da": "Andel af testdata, hvor modellen gav et bud over tærsklen "
            "(selection_rate), den faktiske andel (observed_rate) og modellens "
            "træfsikkerhed (AUC) for hver gruppe.",
            "en": "Share of the test data where the model's estimate was above the "
            "threshold (selection_rate), the actual share (observed_rate) and the "
            "model's discrimination (AUC), per group.",
        },
        "by_feature": by_feature,
    }


# --------------------------------------------------------------------------- files


def rows_to_csv(manifest: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]) -> bytes:
    """CSV of JSON feature rows: header of feature keys, booleans as ``true``/``false``."""
    keys = [f["key"] for f in manifest["features"]]
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(keys)
    for row in rows:
        writer.writerow([_csv_value(row[k]) for k in keys])
    return buffer.getvalue().encode("utf-8")


def _csv_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


_FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)


def _canonical_skops(data: bytes) -> bytes:
    """Rewrite a skops archive so the same object always gives the same bytes.

    Object ids (``__id__`` and the ``<id>.npy`` member names) are renumbered in the
    order they first appear in ``schema.json``, and every member gets a fixed
    timestamp. Loading is unaffected: ids are only used to match references.
    """
    with zipfile.ZipFile(io.BytesIO(data)) as source:
        schema = json.loads(source.read("schema.json"))
        members = {name: source.read(name) for name in source.namelist()}

    id_map: dict[int, int] = {}
    file_map: dict[str, str] = {}

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            out = {}
            for key, value in node.items():
                if key == "__id__" and isinstance(value, int):
                    out[key] = id_map.setdefault(value, len(id_map) + 1)
                elif key == "file" and isinstance(value, str) and value in members:
                    suffix = value[value.rfind(".") :] if "." in value else ""
                    out[key] = file_map.setdefault(value, f"{len(file_map) + 1}{suffix}")
                else:
                    out[key] = walk(value)
            return out
        if isinstance(node, list):
            return [walk(item) for item in node]
        return node

    schema = walk(schema)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as target:
        for old, new in file_map.items():
            target.writestr(zipfile.ZipInfo(new, date_time=_FIXED_ZIP_TIME), members[old])
        target.writestr(
            zipfile.ZipInfo("schema.json", date_time=_FIXED_ZIP_TIME),
            json.dumps(schema, indent=2),
        )
    return buffer.getvalue()

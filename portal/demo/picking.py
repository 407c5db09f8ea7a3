"""Picking the demo cases: rows of the synthetic population that show each scenario.

A demo case must show what it is there for (an ordinary case, one near the threshold with a
realistic change that flips it, one where a sensitive feature weighs heavily, one the
caseworker overrode), so rows are drawn and tested against the trained demo model.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from portal.demo.manifests import LEDIGHED
from portal.demo.synthetic import Row, byggesag_population, ledighed_population

if TYPE_CHECKING:
    from portal.demo.training import DemoModel

# Scenarios a demo case can be built for.
TYPICAL = "typical"  # an ordinary case, model output clearly on one side
NEAR_THRESHOLD = "near_threshold"  # above the threshold; one realistic change flips it
SENSITIVE = "sensitive"  # a sensitive feature (age) is among the top contributors
OVERRIDDEN = "overridden"  # the caseworker did not follow the model
SCENARIOS = (TYPICAL, NEAR_THRESHOLD, SENSITIVE, OVERRIDDEN)


def _actionable_changes(model: DemoModel, row: Row) -> list[Row]:
    """Small, realistic one-feature changes, each in a direction the manifest allows (its
    parsed form: never sensitive or special-category features)."""
    from explainers.manifest import parse_manifest

    changes: list[Row] = []
    for spec in parse_manifest(model.manifest).features:
        if not spec.actionable:
            continue
        key, value = spec.key, row[spec.key]
        if spec.type == "boolean":
            candidates = [not value]
            moves = [(float(value), float(not value))]
        elif spec.type == "category":
            position = spec.categories.index(value)
            steps = [s for s in (-1, 1) if 0 <= position + s < len(spec.categories)]
            candidates = [spec.categories[position + s] for s in steps]
            moves = [(float(position), float(position + s)) for s in steps]
        else:
            lo = spec.min if spec.min is not None else float("-inf")
            hi = spec.max if spec.max is not None else float("inf")
            candidates = [value + d for d in (-5, -4, -3, -2, -1, 1, 2, 3, 4, 5)]
            candidates = [c for c in candidates if lo <= c <= hi]
            moves = [(float(value), float(c)) for c in candidates]
        changes.extend(
            {**row, key: c} for c, move in zip(candidates, moves, strict=True) if spec.allows(*move)
        )
    return changes


def has_counterfactual(model: DemoModel, row: Row) -> bool:
    """True if one small actionable change moves the output below the threshold."""
    changes = _actionable_changes(model, row)
    if not changes:
        return False
    return bool(np.any(model.predict_positive(changes) < model.threshold))


def occlusion_ranking(model: DemoModel, row: Row, background: Sequence[Row]) -> list[str]:
    """Feature keys ranked by how much replacing them with background values moves
    the log-odds (a cheap stand-in for SHAP, used only to pick demo cases)."""
    base = _logit(model.predict_positive([row]))[0]
    effects = {}
    for feature in model.manifest["features"]:
        key = feature["key"]
        variants = [{**row, key: b[key]} for b in background]
        effects[key] = abs(base - float(np.mean(_logit(model.predict_positive(variants)))))
    return sorted(effects, key=lambda k: -effects[k])


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(p, 1e-12, 1 - 1e-12)
    return np.log(p / (1 - p))


def population(model: str, rng: np.random.Generator, n: int) -> list[Row]:
    if model == LEDIGHED:
        return ledighed_population(rng, n)[0]
    return byggesag_population(rng, n)[0]


def pick_row(
    model: DemoModel,
    scenario: str,
    rng: np.random.Generator,
    age: int | None,
    background: Sequence[Row],
) -> Row:
    pool = population(model.name, rng, 400)
    if age is not None:
        pool = [{**row, "alder": age} for row in pool]
    outputs = model.predict_positive(pool)
    threshold = model.threshold
    for row, p in zip(pool, outputs, strict=True):
        if scenario == TYPICAL and abs(p - threshold) > 0.2:
            return row
        if scenario == OVERRIDDEN and p < threshold - 0.15:
            return row
        if (
            scenario == NEAR_THRESHOLD
            and threshold <= p < threshold + 0.12
            and has_counterfactual(model, row)
        ):
            return row
        if (
            scenario == SENSITIVE
            and p >= threshold
            and any(
                model.manifest["features"][i]["sensitive"]
                for i in _indices(model, occlusion_ranking(model, row, background)[:3])
            )
        ):
            return row
    raise RuntimeError(f"no demo row found for {model.name}/{scenario}")  # pragma: no cover


def _indices(model: DemoModel, keys: Sequence[str]) -> list[int]:
    order = [f["key"] for f in model.manifest["features"]]
    return [order.index(k) for k in keys]


def background_rows(model: DemoModel) -> list[Row]:
    types = {f["key"]: f["type"] for f in model.manifest["features"]}
    reader = csv.DictReader(io.StringIO(model.background_csv.decode("utf-8")))
    rows = []
    for raw in reader:
        row: Row = {}
        for key, text in raw.items():
            kind = types[key]
            if kind == "boolean":
                row[key] = text == "true"
            elif kind == "integer":
                row[key] = int(text)
            elif kind == "number":
                row[key] = float(text)
            else:
                row[key] = text
        rows.append(row)
    return rows

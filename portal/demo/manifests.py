"""The demo models' manifests (JSON files in ``manifests/``) and the JSON-row to DataFrame
conversion.

The manifests are ordinary manifest files in the contract's own format (DESIGN.md, "Model
manifest"): an integrator can read them as examples, and they are checked by the same code
as any registered manifest (``explainers.manifest`` here; the seed then registers them
through ``POST /api/v1/models``, which validates them again with the artifact). The parts
that can only be known after training (``model_card.metrics`` and ``model_card.fairness``)
are empty in the files and filled in by :mod:`portal.demo.training`.

Representation of values (the same everywhere in this package):

* ``number`` and ``integer`` features are JSON numbers and float64 / int64 columns.
* ``category`` features are the category key as a string (``"videregaaende"``).
* ``boolean`` features are JSON ``true`` / ``false``; in the background CSV they are
  written as ``true`` / ``false`` too, and the model receives them as 0 / 1.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from functools import cache
from importlib import resources
from typing import Any

import numpy as np
import pandas as pd

MODEL_VERSION = "2026.1"
LEDIGHED = "ledighedsrisiko"
BYGGESAG = "byggesagsscreening"
NAMES = (LEDIGHED, BYGGESAG)


@cache
def _manifest(name: str) -> dict[str, Any]:
    """The manifest file of a demo model, parsed and validated once."""
    from explainers.errors import ManifestError
    from explainers.validation import validate_manifest

    if name not in NAMES:
        raise KeyError(name)
    text = resources.files(__package__).joinpath("manifests", f"{name}.json").read_text("utf-8")
    manifest: dict[str, Any] = json.loads(text)
    problems = validate_manifest(manifest)
    if problems:
        raise ManifestError(problems)
    return manifest


def base_manifest(name: str) -> dict[str, Any]:
    """A fresh copy of a demo manifest without the training-time metrics."""
    return copy.deepcopy(_manifest(name))


def _feature(name: str, key: str) -> Mapping[str, Any]:
    for feature in _manifest(name)["features"]:
        if feature["key"] == key:
            return feature  # type: ignore[no-any-return]
    raise KeyError(key)


def categories(name: str, key: str) -> list[str]:
    """The category keys of a demo model's category feature, in manifest order."""
    return list(_feature(name, key)["categories"])


def category_label(name: str, key: str, category: str, lang: str) -> str:
    """The label of one category in ``lang`` (Danish when that language is missing)."""
    labels = _feature(name, key)["category_labels"][category]
    return str(labels.get(lang) or labels["da"])


def feature_frame(manifest: Mapping[str, Any], rows: Iterable[Mapping[str, Any]]) -> pd.DataFrame:
    """Turn JSON feature rows into the DataFrame the demo pipelines were trained on.

    Columns follow the manifest's feature order. ``number`` becomes float64,
    ``integer`` int64, ``boolean`` int64 0/1 (so ``True``, ``"true"`` and ``1`` agree),
    ``category`` object strings. Missing keys raise ``KeyError``.
    """
    rows = list(rows)
    columns: dict[str, Any] = {}
    for feature in manifest["features"]:
        key, kind = feature["key"], feature["type"]
        values = [row[key] for row in rows]
        if kind == "number":
            columns[key] = np.asarray(values, dtype="float64")
        elif kind == "integer":
            columns[key] = np.asarray(values, dtype="int64")
        elif kind == "boolean":
            columns[key] = np.asarray([_as_bool(v) for v in values], dtype="int64")
        elif kind == "category":
            columns[key] = np.asarray([str(v) for v in values], dtype=object)
        else:  # pragma: no cover - the demo manifests use no other types
            raise ValueError(f"unsupported feature type {kind!r} for {key!r}")
    return pd.DataFrame(columns, index=pd.RangeIndex(len(rows)))


def _as_bool(value: Any) -> int:
    if isinstance(value, str):
        lowered = value.strip().lower()
        if lowered in {"true", "1"}:
            return 1
        if lowered in {"false", "0"}:
            return 0
        raise ValueError(f"not a boolean: {value!r}")
    return int(bool(value))

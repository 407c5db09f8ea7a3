"""Turning JSON feature rows and background CSV into model input columns.

Encoding contract (documented for senders):

* ``number`` / ``integer``: JSON numbers (integers must be whole); float64 for the model.
* ``boolean``: JSON ``true``/``false``; the model sees 1.0 / 0.0.
* ``category``: one of the manifest's category strings; passed to the model as the string
  (a fitted OneHotEncoder/OrdinalEncoder in the pipeline must encode it).
* ``date``: ISO date string ``YYYY-MM-DD`` (a datetime is cut to its date); the model sees
  days since 1970-01-01 as float64.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from explainers.errors import RowError
from explainers.manifest import FeatureSpec, Manifest, Problem

_EPOCH = dt.date(1970, 1, 1).toordinal()
Column = npt.NDArray[Any]
MAX_PROBLEMS = 50


def date_to_days(value: str) -> float:
    """Days since 1970-01-01 for an ISO date (or datetime) string."""
    return float(dt.date.fromisoformat(value[:10]).toordinal() - _EPOCH)


def days_to_date(days: float) -> str:
    """ISO date for days since 1970-01-01 (inverse of ``date_to_days``)."""
    return dt.date.fromordinal(round(days) + _EPOCH).isoformat()


def value_problem(spec: FeatureSpec, value: Any, path: str) -> Problem | None:
    """The problem with one JSON value for a feature, or None when it is valid."""
    if value is None:
        return Problem(path, "missing-value", "value required")
    if spec.type in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            return Problem(path, "wrong-type", "number expected")
        if not math.isfinite(float(value)):
            return Problem(path, "not-finite", "finite number expected")
        if spec.type == "integer" and float(value) != math.floor(float(value)):
            return Problem(path, "not-an-integer", "integer expected")
        if (spec.min is not None and value < spec.min) or (
            spec.max is not None and value > spec.max
        ):
            return Problem(
                path,
                "out-of-range",
                "value outside min/max",
                {"min": spec.min, "max": spec.max, "value": float(value)},
            )
    elif spec.type == "boolean":
        if not isinstance(value, bool):
            return Problem(path, "wrong-type", "boolean expected")
    elif spec.type == "category":
        if not isinstance(value, str):
            return Problem(path, "wrong-type", "string expected")
        if value not in spec.categories:
            return Problem(
                path, "unknown-category", "value not among the categories", {"value": value}
            )
    elif spec.type == "date":
        if not isinstance(value, str):
            return Problem(path, "wrong-type", "ISO date string expected")
        try:
            date_to_days(value)
        except ValueError:
            return Problem(path, "invalid-date", "ISO date string expected")
    return None


def row_problems(manifest: Manifest, row: Mapping[str, Any], prefix: str = "") -> list[Problem]:
    """Every problem of one feature row (missing or unknown keys, types, ranges)."""
    if not isinstance(row, Mapping):
        return [Problem(prefix or "row", "not-an-object", "row must be an object")]
    out: list[Problem] = []
    keys = set(manifest.feature_keys)
    for spec in manifest.features:
        path = f"{prefix}{spec.key}"
        if spec.key not in row:
            out.append(Problem(path, "missing-feature", "feature missing"))
            continue
        problem = value_problem(spec, row[spec.key], path)
        if problem is not None:
            out.append(problem)
    for key in sorted(set(row) - keys, key=str):
        out.append(Problem(f"{prefix}{key}", "unknown-feature", "feature not in manifest"))
    return out


def _fast_column(spec: FeatureSpec, values: list[Any]) -> Column | None:
    """Vectorised encode of one column; None when any value needs the slow, precise path."""
    kinds = set(map(type, values))
    if spec.type in ("number", "integer"):
        if not kinds <= {int, float}:
            return None
        arr = np.asarray(values, dtype=np.float64)
        if not np.isfinite(arr).all():
            return None
        if spec.type == "integer" and not (arr == np.floor(arr)).all():
            return None
        if (spec.min is not None and (arr < spec.min).any()) or (
            spec.max is not None and (arr > spec.max).any()
        ):
            return None
        return arr
    if spec.type == "boolean":
        if kinds != {bool}:
            return None
        return np.asarray(values, dtype=np.float64)
    if spec.type == "category":
        if kinds != {str} or not set(values) <= set(spec.categories):
            return None
        return np.asarray(values, dtype=object)
    try:
        if kinds != {str}:
            return None
        return np.asarray([date_to_days(v) for v in values], dtype=np.float64)
    except ValueError:
        return None


def encode_rows(manifest: Manifest, rows: Sequence[Mapping[str, Any]]) -> dict[str, Column]:
    """Validate rows and return one array per feature key (float64, or object for category).

    Raises ``RowError`` with every problem (path ``rows[i].key``) when any row is invalid.
    """
    columns: dict[str, Column] = {}
    keys = set(manifest.feature_keys)
    if not rows:
        return {
            s.key: np.empty(0, dtype=object if s.type == "category" else np.float64)
            for s in manifest.features
        }
    try:
        if any(len(row) != len(keys) for row in rows):
            raise KeyError("extra or missing keys")
        for spec in manifest.features:
            col = _fast_column(spec, [row[spec.key] for row in rows])
            if col is None:
                raise KeyError(spec.key)
            columns[spec.key] = col
        return columns
    except (KeyError, TypeError, AttributeError):
        problems: list[Problem] = []
        for i, row in enumerate(rows):
            problems.extend(row_problems(manifest, row, f"rows[{i}]."))
            if len(problems) >= MAX_PROBLEMS:
                break
        if not problems:  # defensive: a fast-path failure always has a precise cause
            problems.append(Problem("rows", "invalid-row", "rows could not be encoded"))
        raise RowError(problems[:MAX_PROBLEMS]) from None


def encode_frame(manifest: Manifest, frame: Any) -> dict[str, Column]:
    """Like ``encode_rows`` for a pandas DataFrame whose columns are the feature keys
    (column-wise, without building one dict per row); same validation and errors."""
    if set(frame.columns) == set(manifest.feature_keys):
        columns: dict[str, Column] = {}
        lists = frame.to_dict("list")  # one call: per-column access is ~30 us each
        for spec in manifest.features:
            col = _fast_column(spec, lists[spec.key])
            if col is None:
                break
            columns[spec.key] = col
        else:
            return columns
    return encode_rows(manifest, frame.to_dict("records"))


def decode_value(spec: FeatureSpec, value: Any) -> Any:
    """JSON value of a model-space value (inverse of the encoding contract)."""
    if spec.type == "boolean":
        return bool(value >= 0.5)
    if spec.type == "integer":
        return round(float(value))
    if spec.type == "number":
        return float(value)
    if spec.type == "date":
        return days_to_date(float(value))
    return str(value)


@dataclass(frozen=True)
class Background:
    """Registered background data, encoded per the contract above."""

    columns: dict[str, Column]
    n_rows: int
    sha256: str

    def numeric_range(self, key: str) -> tuple[float, float] | None:
        col = self.columns[key]
        if col.dtype == object or not col.size:
            return None
        return float(np.nanmin(col)), float(np.nanmax(col))

    def seen_values(self, key: str) -> frozenset[Any]:
        return frozenset(self.columns[key].tolist())


def _parse_cell(spec: FeatureSpec, text: str) -> Any:
    """Parse one CSV cell into its JSON value; raises ValueError when it cannot."""
    text = text.strip()
    if spec.type in ("number", "integer"):
        value = float(text)
        if spec.type == "integer" and value.is_integer():
            return int(value)
        return value
    if spec.type == "boolean":
        lowered = text.lower()
        if lowered in ("true", "1"):
            return True
        if lowered in ("false", "0"):
            return False
        raise ValueError(text)
    return text


def parse_background(
    manifest: Manifest, data: bytes, sha256: str
) -> tuple[Background | None, list[Problem]]:
    """Parse a background CSV (header = feature keys, any order); all problems at once."""
    problems: list[Problem] = []
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None, [Problem("background", "not-utf8", "CSV must be UTF-8")]
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        return None, [Problem("background", "empty-csv", "CSV has no header")]
    header = [h.strip() for h in header]
    keys = manifest.feature_keys
    for key in keys:
        if key not in header:
            problems.append(
                Problem(f"background.header.{key}", "missing-column", "feature column missing")
            )
    for key in header:
        if key not in keys:
            problems.append(
                Problem(f"background.header.{key}", "unknown-column", "column not in manifest")
            )
    if len(set(header)) != len(header):
        problems.append(Problem("background.header", "duplicate-column", "duplicate column"))
    if problems:
        return None, problems
    rows: list[dict[str, Any]] = []
    record_of: list[int] = []  # CSV record number of each parsed row
    for i, record in enumerate(reader):
        if not record or all(not c.strip() for c in record):
            continue
        if len(record) != len(header):
            problems.append(
                Problem(f"background.rows[{i}]", "wrong-field-count", "wrong number of fields")
            )
            continue
        row: dict[str, Any] = {}
        parsed = True
        for key, cell in zip(header, record, strict=True):
            spec = manifest.feature(key)
            try:
                row[key] = _parse_cell(spec, cell)
            except ValueError:
                parsed = False
                problems.append(
                    Problem(
                        f"background.rows[{i}].{key}",
                        "unparsable-value",
                        "cannot parse value",
                        {"value": cell[:100]},
                    )
                )
        if parsed:
            rows.append(row)
            record_of.append(i)
        if len(problems) >= MAX_PROBLEMS:
            break
    if not problems and not rows:
        problems.append(Problem("background", "no-rows", "background needs at least one row"))
    columns: dict[str, Column] = {}
    if rows:
        try:
            columns = encode_rows(manifest, rows)
        except RowError as exc:
            for p in exc.problems:
                # "rows[k].key" -> "background.rows[<csv record>].key"
                k, _, rest = p.path.removeprefix("rows[").partition("]")
                path = f"background.rows[{record_of[int(k)]}]{rest}" if k.isdigit() else p.path
                problems.append(Problem(path, p.code, p.message, p.detail))
    if problems:
        return None, problems[:MAX_PROBLEMS]
    return Background(columns=columns, n_rows=len(rows), sha256=sha256), []

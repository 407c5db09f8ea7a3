"""Model manifest: the structural and policy checks (every problem listed, nothing raised).

Pure standard library, like ``explainers.manifest``, which parses a manifest that passes them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from explainers.manifest_register import register_problems, text_problems
from explainers.problems import Problem

FEATURE_TYPES: frozenset[str] = frozenset({"number", "integer", "boolean", "category", "date"})
OUTPUT_KINDS: frozenset[str] = frozenset({"probability", "score", "class"})
DEFAULT_THRESHOLD = 0.5
#: ``actionable``: which direction of change a counterfactual may suggest (``true`` = both).
ACTIONABLE_DIRECTIONS: frozenset[str] = frozenset({"increase", "decrease", "both"})
#: ``output.counterfactual_for``: outcomes (relative to the threshold) that get one.
COUNTERFACTUAL_FOR: frozenset[str] = frozenset({"above", "below", "both", "none"})
RECOMMENDATION_SIDES = ("above", "below")


def _is_number(value: object) -> bool:
    if not isinstance(value, int | float) or isinstance(value, bool):
        return False
    try:
        return math.isfinite(float(value))
    except OverflowError:  # an integer beyond the float range
        return False


def _check_text(obj: Mapping[str, Any], name: str, path: str, out: list[Problem]) -> None:
    """A per-language text object with a non-empty Danish entry."""
    text_problems(obj.get(name), f"{path}.{name}" if path else name, out)


def _check_key(value: object, path: str, out: list[Problem]) -> bool:
    if not isinstance(value, str) or not value.strip():
        out.append(Problem(path, "missing-key", "non-empty string key required"))
        return False
    return True


def _check_recommendation(output: Mapping[str, Any], out: list[Problem]) -> None:
    """``output.recommendation``: a text (Danish required) for each side of the threshold."""
    recommendation = output.get("recommendation")
    if recommendation is None:
        return
    path = "output.recommendation"
    if not isinstance(recommendation, Mapping):
        out.append(
            Problem(path, "invalid-recommendation", "object with 'above' and 'below' required")
        )
        return
    for side in sorted(set(recommendation) - set(RECOMMENDATION_SIDES), key=str):
        out.append(
            Problem(
                f"{path}.{side}",
                "unknown-recommendation-side",
                "only 'above' and 'below' are allowed",
                {"allowed": list(RECOMMENDATION_SIDES)},
            )
        )
    for side in RECOMMENDATION_SIDES:
        _check_text(recommendation, side, path, out)
    kind = output.get("kind")
    if kind == "score" and output.get("threshold") is None:
        out.append(
            Problem(
                path,
                "recommendation-needs-threshold",
                "a recommendation per side needs output.threshold for a score",
            )
        )


def _objects(
    manifest: Mapping[str, Any], name: str, noun: str, out: list[Problem]
) -> list[tuple[str, Mapping[str, Any]]]:
    """The objects of the non-empty list ``manifest[name]``, each with its path; a problem for
    a missing or empty list and for each item that is not an object."""
    value = manifest.get(name)
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        out.append(Problem(name, "missing-field", f"list '{name}' required"))
        return []
    if not value:
        out.append(Problem(name, "empty-list", f"at least one {noun} required"))
    objects = []
    for i, item in enumerate(value):
        path = f"{name}[{i}]"
        if isinstance(item, Mapping):
            objects.append((path, item))
        else:
            out.append(Problem(path, "not-an-object", f"{noun} must be an object"))
    return objects


def _unique_key(
    item: Mapping[str, Any], path: str, seen: set[str], noun: str, out: list[Problem]
) -> str | None:
    """The item's key, if it is a non-empty string; a problem if it repeats one in ``seen``."""
    key = item.get("key")
    if not _check_key(key, f"{path}.key", out):
        return None
    assert isinstance(key, str)
    if key in seen:
        out.append(Problem(f"{path}.key", "duplicate-key", f"duplicate {noun} key", {"key": key}))
    seen.add(key)
    return key


def policy_problems(manifest: Mapping[str, Any]) -> list[Problem]:
    """What registration refuses beyond the structure (run after ``structural_problems``
    found none): a sensitive or special-category feature marked actionable, and special
    categories (GDPR art. 9) without ``special_category_legal_basis``. Not checked when a
    stored manifest is parsed, so versions registered before these rules still load (their
    sensitive features are simply never actionable)."""
    out: list[Problem] = []
    special = False
    for i, item in enumerate(manifest.get("features") or ()):
        if not isinstance(item, Mapping):
            continue
        actionable = item.get("actionable", False) not in (False, None)
        special = special or item.get("special_category") is True
        for flag, code in (
            ("sensitive", "sensitive-actionable"),
            ("special_category", "special-category-actionable"),
        ):
            if item.get(flag) is True and actionable:
                out.append(
                    Problem(
                        f"features[{i}].actionable",
                        code,
                        f"a {flag.replace('_', ' ')} feature is never actionable",
                        {"key": item.get("key")},
                    )
                )
    if special and manifest.get("special_category_legal_basis") is None:
        out.append(
            Problem(
                "special_category_legal_basis",
                "missing-special-category-legal-basis",
                "a manifest with a special_category feature must give its legal basis "
                "(GDPR art. 9)",
            )
        )
    return out


def structural_problems(manifest: Mapping[str, Any]) -> list[Problem]:
    """Every structural problem of a manifest (no model needed), each with its path."""
    out: list[Problem] = []
    if not isinstance(manifest, Mapping):
        return [Problem("", "not-an-object", "manifest must be a JSON object")]
    for name in ("name", "version", "responsible_unit"):
        value = manifest.get(name)
        if not isinstance(value, str) or not value.strip():
            out.append(Problem(name, "missing-field", f"non-empty string '{name}' required"))
    _check_text(manifest, "title", "", out)
    _check_text(manifest, "purpose", "", out)

    output = manifest.get("output")
    if not isinstance(output, Mapping):
        out.append(Problem("output", "missing-field", "object 'output' required"))
    else:
        kind = output.get("kind")
        if not isinstance(kind, str) or kind not in OUTPUT_KINDS:
            out.append(
                Problem(
                    "output.kind",
                    "invalid-output-kind",
                    "unknown output kind",
                    {"allowed": sorted(OUTPUT_KINDS), "got": repr(kind)},
                )
            )
        threshold = output.get("threshold")
        if threshold is not None:
            if not _is_number(threshold):
                out.append(
                    Problem("output.threshold", "not-a-number", "threshold must be a number")
                )
            elif kind == "probability" and not 0.0 < float(threshold) < 1.0:
                out.append(
                    Problem(
                        "output.threshold",
                        "threshold-out-of-range",
                        "probability threshold must be in (0, 1)",
                    )
                )
        wanted = output.get("counterfactual_for", "both")
        if not isinstance(wanted, str) or wanted not in COUNTERFACTUAL_FOR:
            out.append(
                Problem(
                    "output.counterfactual_for",
                    "invalid-counterfactual-for",
                    "counterfactual_for must be 'above', 'below', 'both' or 'none'",
                    {"allowed": sorted(COUNTERFACTUAL_FOR), "got": repr(wanted)},
                )
            )
        _check_recommendation(output, out)

    if manifest.get("special_category_legal_basis") is not None:
        _check_text(manifest, "special_category_legal_basis", "", out)
    out.extend(register_problems(manifest))

    consideration_keys: set[str] = set()
    for path, item in _objects(manifest, "considerations", "consideration", out):
        _unique_key(item, path, consideration_keys, "consideration", out)
        _check_text(item, "label", path, out)

    feature_keys: set[str] = set()
    for path, item in _objects(manifest, "features", "feature", out):
        _unique_key(item, path, feature_keys, "feature", out)
        ftype = item.get("type")
        if not isinstance(ftype, str) or ftype not in FEATURE_TYPES:
            out.append(
                Problem(
                    f"{path}.type",
                    "invalid-feature-type",
                    "unknown feature type",
                    {"allowed": sorted(FEATURE_TYPES), "got": repr(ftype)},
                )
            )
        _check_text(item, "label", path, out)
        _check_text(item, "source", path, out)
        cons = item.get("consideration")
        if not isinstance(cons, str) or cons not in consideration_keys:
            out.append(
                Problem(
                    f"{path}.consideration",
                    "unknown-consideration",
                    "feature must belong to a declared consideration",
                    {"got": repr(cons)},
                )
            )
        for flag in ("sensitive", "special_category"):
            if flag in item and not isinstance(item[flag], bool):
                out.append(Problem(f"{path}.{flag}", "not-a-boolean", f"'{flag}' must be boolean"))
        actionable = item.get("actionable", False)
        if not isinstance(actionable, bool) and not (
            isinstance(actionable, str) and actionable in ACTIONABLE_DIRECTIONS
        ):
            out.append(
                Problem(
                    f"{path}.actionable",
                    "invalid-actionable",
                    "actionable must be true, false, 'increase', 'decrease' or 'both'",
                    {
                        "allowed": [True, False, *sorted(ACTIONABLE_DIRECTIONS)],
                        "got": repr(actionable),
                    },
                )
            )
        # Optional texts: a feature's legal basis, and its unit for many and for exactly one.
        for optional in ("legal_basis", "unit", "unit_one"):
            if item.get(optional) is not None:
                _check_text(item, optional, path, out)
        for bound in ("min", "max"):
            if item.get(bound) is not None and not _is_number(item[bound]):
                out.append(
                    Problem(f"{path}.{bound}", "not-a-number", f"'{bound}' must be a number")
                )
        lo, hi = item.get("min"), item.get("max")
        if (
            isinstance(lo, int | float)
            and isinstance(hi, int | float)
            and _is_number(lo)
            and _is_number(hi)
            and float(lo) > float(hi)
        ):
            out.append(
                Problem(
                    f"{path}.min",
                    "min-greater-than-max",
                    "min must be <= max",
                    {"min": float(lo), "max": float(hi)},
                )
            )
        if ftype in ("boolean", "category", "date") and (lo is not None or hi is not None):
            out.append(
                Problem(
                    f"{path}.min",
                    "bounds-not-allowed",
                    "min/max only apply to number and integer features",
                )
            )
        cats = item.get("categories")
        if ftype == "category":
            if (
                not isinstance(cats, Sequence)
                or isinstance(cats, str | bytes)
                or not cats
                or not all(isinstance(c, str) and c for c in cats)
            ):
                out.append(
                    Problem(
                        f"{path}.categories",
                        "missing-categories",
                        "category feature needs a non-empty list of strings",
                    )
                )
            elif len(set(cats)) != len(cats):
                out.append(
                    Problem(f"{path}.categories", "duplicate-category", "categories must be unique")
                )
        elif cats is not None:
            out.append(
                Problem(
                    f"{path}.categories",
                    "categories-not-allowed",
                    "only category features have categories",
                )
            )
    return out

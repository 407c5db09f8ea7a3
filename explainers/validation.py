"""Manifest, bundle and row validation shared with the API (cheap to import).

Manifest features are matched to the model's ``feature_names_in_`` **as a set**: the manifest
order is the presentation order, and rows are reordered into the model's own column order
before prediction. A model fitted without feature names must list its inputs in the
manifest's order (only the count can be checked).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from explainers.errors import ExplainerError, InvalidArtifactError, UnsafeArtifactError
from explainers.manifest import (
    Manifest,
    Problem,
    parse_manifest,
    policy_problems,
    structural_problems,
)

__all__ = ["Problem", "model_problems", "validate_bundle", "validate_manifest"]


def _category_set(values: Any) -> set[str]:
    out: set[str] = set()
    for value in values:
        if isinstance(value, float) and math.isnan(value):
            continue  # encoders may learn NaN as a category; rows never send it
        out.add(str(value))
    return out


def model_problems(manifest: Manifest, model: Any) -> list[Problem]:
    """Problems between a structurally valid manifest and a loaded model."""
    from explainers.errors import UnsupportedModelError
    from explainers.modelinfo import inspect_model

    try:
        info = inspect_model(model)
    except UnsupportedModelError as exc:
        return [Problem("artifact", "unsupported-model", str(exc))]
    out: list[Problem] = []
    for reason in info.unsupported:
        code = reason.split(":")[0]
        out.append(Problem("artifact", code, reason))
    keys = manifest.feature_keys
    index_of: dict[str, int] = {}
    if info.input_names is not None:
        names = list(info.input_names)
        for i, key in enumerate(keys):
            if key in names:
                index_of[key] = names.index(key)
            else:
                out.append(
                    Problem(
                        f"features[{i}].key",
                        "feature-not-in-model",
                        "model does not use this feature",
                        {"key": key},
                    )
                )
        for name in names:
            if name not in keys:
                out.append(
                    Problem(
                        "features",
                        "model-feature-missing",
                        "model input missing from the manifest",
                        {"key": name},
                    )
                )
    elif info.n_inputs != len(keys):
        out.append(
            Problem(
                "features",
                "feature-count-mismatch",
                "model expects a different number of features",
                {"expected": info.n_inputs, "got": len(keys)},
            )
        )
    else:
        index_of = {key: i for i, key in enumerate(keys)}

    for i, spec in enumerate(manifest.features):
        idx = index_of.get(spec.key)
        if idx is None:
            continue
        learned = info.encoder_categories.get(idx)
        path = f"features[{i}].categories"
        if spec.type == "category":
            if learned is None:
                if info.column_map is not None:
                    out.append(
                        Problem(
                            f"features[{i}].type",
                            "category-not-encoded",
                            "no fitted encoder reads this category column",
                        )
                    )
                continue
            model_set, manifest_set = _category_set(learned), set(spec.categories)
            if model_set != manifest_set:
                out.append(
                    Problem(
                        path,
                        "categories-mismatch",
                        "categories differ from the fitted encoder",
                        {
                            "only_in_model": sorted(model_set - manifest_set),
                            "only_in_manifest": sorted(manifest_set - model_set),
                        },
                    )
                )
        elif learned is not None:
            numeric = {
                float(v)
                for v in learned
                if isinstance(v, int | float | bool)
                and not (isinstance(v, float) and math.isnan(v))
            }
            allowed = {0.0, 1.0} if spec.type == "boolean" else None
            if len(numeric) != len(
                [v for v in learned if not (isinstance(v, float) and math.isnan(v))]
            ) or (allowed is not None and not numeric <= allowed):
                out.append(
                    Problem(
                        f"features[{i}].type",
                        "encoder-type-mismatch",
                        "encoder categories do not fit the feature type",
                        {"categories": sorted(_category_set(learned))},
                    )
                )

    kind = manifest.output_kind
    if kind in ("probability", "class"):
        if not info.is_classifier or not hasattr(model, "predict_proba"):
            out.append(
                Problem(
                    "output.kind",
                    "output-kind-mismatch",
                    "probability/class output needs a classifier",
                )
            )
        elif manifest.positive_class not in info.classes:
            out.append(
                Problem(
                    "output.positive_class",
                    "unknown-positive-class",
                    "positive class not among the model's classes",
                    {"classes": [str(c) for c in info.classes]},
                )
            )
    elif info.is_classifier:
        out.append(Problem("output.kind", "output-kind-mismatch", "score output needs a regressor"))
    return out


def validate_manifest(manifest: Mapping[str, Any], model: Any = None) -> list[Problem]:
    """Every problem of a manifest, and (when ``model`` is given) against the model.

    Returns an empty list when valid. Never raises for bad input.
    """
    problems = structural_problems(manifest)
    if problems:
        return problems
    problems = policy_problems(manifest)
    if model is None:
        return problems
    return problems + model_problems(parse_manifest(manifest), model)


def validate_bundle(
    artifact: bytes, manifest: Mapping[str, Any], background_csv: bytes | None = None
) -> list[Problem]:
    """Everything a registration checks: artifact safety, manifest, model fit, background.

    Linear and permutation explainers need a background; its absence is a
    ``background-required`` problem.
    """
    from explainers.loading import load_artifact, sha256_hex

    problems = structural_problems(manifest)
    model: Any = None
    try:
        model = load_artifact(artifact)
    except UnsafeArtifactError as exc:
        problems.append(
            Problem(
                "artifact",
                exc.code,
                "artifact contains refused types",
                {"refused_types": list(exc.refused_types)},
            )
        )
    except InvalidArtifactError as exc:
        problems.append(Problem("artifact", exc.code, str(exc), {"reason": exc.reason}))
    except ExplainerError as exc:
        problems.append(Problem("artifact", exc.code, str(exc)))
    if structural_problems(manifest):
        return problems
    problems.extend(policy_problems(manifest))
    parsed = parse_manifest(manifest)
    if model is not None:
        problems.extend(model_problems(parsed, model))
    if background_csv is not None:
        from explainers.encoding import parse_background

        _, bg_problems = parse_background(parsed, background_csv, sha256_hex(background_csv))
        problems.extend(bg_problems)
    elif model is not None:
        from explainers.modelinfo import inspect_model

        try:
            family = inspect_model(model).family
        except ExplainerError:
            family = "tree"
        if family != "tree":
            problems.append(
                Problem(
                    "background",
                    "background-required",
                    f"a background CSV is required for {family} explainers",
                )
            )
    return problems

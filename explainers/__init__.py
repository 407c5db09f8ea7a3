"""Explanations for Forklaringsportalen: safe model loading, explainer choice, SHAP values
grouped by consideration, counterfactuals and flags.

Pure Python: no web framework or database imports, and returns numbers and feature keys,
never sentences. Heavy libraries (shap, scikit-learn, skops, pandas) are imported lazily,
so ``import explainers`` (and ``explainers.validation``) is cheap.
"""

from __future__ import annotations

from explainers.bundle import ModelBundle, predict
from explainers.cache import LRUCache
from explainers.counterfactual import Change, Counterfactual, counterfactual
from explainers.errors import (
    AdditivityError,
    ExplainerError,
    InvalidArtifactError,
    ManifestError,
    RowError,
    UnsafeArtifactError,
    UnsupportedModelError,
)
from explainers.explain import (
    EXPLAINER_CACHE,
    explain_rows,
    get_explainer,
    get_probability_explainer,
)
from explainers.loading import TRUSTED_TYPES, load_artifact, refused_types
from explainers.manifest import (
    Consideration,
    FeatureSpec,
    Manifest,
    Problem,
    parse_manifest,
    policy_problems,
)
from explainers.modelinfo import CostEstimate, estimate_cost
from explainers.result import PAYLOAD_VERSION, Explanation, Flag, Presentation
from explainers.validation import validate_bundle, validate_manifest

__all__ = [
    "EXPLAINER_CACHE",
    "PAYLOAD_VERSION",
    "TRUSTED_TYPES",
    "AdditivityError",
    "Change",
    "Consideration",
    "CostEstimate",
    "Counterfactual",
    "ExplainerError",
    "Explanation",
    "FeatureSpec",
    "Flag",
    "InvalidArtifactError",
    "LRUCache",
    "Manifest",
    "ManifestError",
    "ModelBundle",
    "Presentation",
    "Problem",
    "RowError",
    "UnsafeArtifactError",
    "UnsupportedModelError",
    "counterfactual",
    "estimate_cost",
    "explain_rows",
    "get_explainer",
    "get_probability_explainer",
    "load_artifact",
    "parse_manifest",
    "policy_problems",
    "predict",
    "refused_types",
    "validate_bundle",
    "validate_manifest",
]

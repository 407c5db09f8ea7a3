"""A registered model version: artifact, parsed manifest, model facts and background."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from explainers.encoding import Background, Column, encode_frame, encode_rows, parse_background
from explainers.errors import ManifestError
from explainers.loading import load_artifact, sha256_hex
from explainers.manifest import Manifest, Problem, parse_manifest
from explainers.modelinfo import FloatArray, ModelInfo, inspect_model
from explainers.validation import model_problems


def _expit(x: FloatArray) -> FloatArray:
    # numerically stable logistic function without importing scipy
    out = np.empty_like(x)
    pos = x >= 0
    out[pos] = 1.0 / (1.0 + np.exp(-x[pos]))
    ex = np.exp(x[~pos])
    out[~pos] = ex / (1.0 + ex)
    return out


@dataclass(frozen=True, eq=False)
class ModelBundle:
    """Everything needed to explain decisions of one model version.

    Build with ``from_bytes`` (registration and workers). ``artifact_sha256`` and
    ``background_sha256`` identify the version in the explainer cache.
    """

    manifest: Manifest
    model: Any
    info: ModelInfo
    background: Background | None
    artifact_sha256: str

    @property
    def background_sha256(self) -> str | None:
        return self.background.sha256 if self.background is not None else None

    @classmethod
    def from_bytes(
        cls,
        artifact: bytes,
        manifest: Mapping[str, Any],
        background_csv: bytes | None = None,
    ) -> ModelBundle:
        """Load and check a model version.

        Raises ``UnsafeArtifactError`` / ``InvalidArtifactError`` for the artifact and
        ``ManifestError`` listing every manifest, model-fit and background problem.
        """
        parsed = parse_manifest(manifest)
        model = load_artifact(artifact)
        return cls._build(parsed, model, background_csv, sha256_hex(bytes(artifact)))

    @classmethod
    def from_model(
        cls,
        model: Any,
        manifest: Mapping[str, Any],
        background_csv: bytes | None = None,
        *,
        artifact_sha256: str,
    ) -> ModelBundle:
        """Bundle an in-memory model (tests, benchmarks). Never use for untrusted input."""
        return cls._build(parse_manifest(manifest), model, background_csv, artifact_sha256)

    @classmethod
    def _build(
        cls, parsed: Manifest, model: Any, background_csv: bytes | None, artifact_sha: str
    ) -> ModelBundle:
        problems: list[Problem] = model_problems(parsed, model)
        info = inspect_model(model)
        background = None
        if background_csv is not None:
            background, bg_problems = parse_background(
                parsed, background_csv, sha256_hex(background_csv)
            )
            problems.extend(bg_problems)
        elif info.family != "tree":
            problems.append(
                Problem(
                    "background",
                    "background-required",
                    f"a background CSV is required for {info.family} explainers",
                )
            )
        if problems:
            raise ManifestError(problems)
        return cls(parsed, model, info, background, artifact_sha)

    @cached_property
    def manifest_fingerprint(self) -> str:
        """SHA-256 of the canonical manifest JSON (part of the explainer cache key)."""
        import json

        text = json.dumps(self.manifest.raw, sort_keys=True, default=str, ensure_ascii=True)
        return sha256_hex(text.encode())

    # -- model input -------------------------------------------------------------------------

    @cached_property
    def input_keys(self) -> tuple[str, ...]:
        """Feature keys in the order of the model's input columns."""
        if self.info.input_names is not None:
            return self.info.input_names
        return self.manifest.feature_keys

    @cached_property
    def manifest_order(self) -> np.ndarray[Any, np.dtype[np.intp]]:
        """For each manifest feature, its model input column index."""
        index = {key: i for i, key in enumerate(self.input_keys)}
        return np.asarray([index[key] for key in self.manifest.feature_keys], dtype=np.intp)

    def encode(self, rows: Sequence[Mapping[str, Any]] | Any) -> dict[str, Column]:
        """Validate rows (list of mappings, or a DataFrame with feature-key columns)."""
        if hasattr(rows, "columns") and hasattr(rows, "to_dict"):
            return encode_frame(self.manifest, rows)
        return encode_rows(self.manifest, rows)

    def model_input(self, columns: Mapping[str, Column]) -> Any:
        """What the model's ``predict`` expects: a DataFrame with its own column names when it
        was fitted with names, else a numpy array in manifest order."""
        if self.info.input_names is not None:
            import pandas as pd

            return pd.DataFrame({key: columns[key] for key in self.input_keys})
        cols = [columns[key] for key in self.input_keys]
        if any(c.dtype == object for c in cols):
            return np.column_stack([c.astype(object) for c in cols])
        return np.column_stack(cols).astype(np.float64, copy=False)

    def transform(self, model_input: Any) -> FloatArray:
        """Model input -> dense float64 matrix the final estimator sees."""
        pre = self.info.preprocessor
        out = model_input if pre is None else pre.transform(model_input)
        if hasattr(out, "toarray"):
            out = out.toarray()
        return np.asarray(out, dtype=np.float64)

    def estimator_input(self, transformed: FloatArray) -> Any:
        """Give the final estimator named columns when it was fitted with names."""
        names = getattr(self.info.estimator, "feature_names_in_", None)
        if names is None:
            return transformed
        import pandas as pd

        return pd.DataFrame(transformed, columns=list(names))

    @cached_property
    def positive_index(self) -> int:
        if not self.info.is_classifier:
            return 0
        return self.info.classes.index(self.manifest.positive_class)

    @property
    def sign(self) -> float:
        """-1 when the positive class is the model's first class (margins are for the second)."""
        return -1.0 if self.info.is_classifier and self.positive_index == 0 else 1.0

    def raw_output(self, transformed: FloatArray) -> FloatArray:
        """Model output on the explanation scale (``info.scale``) from transformed input."""
        info, est = self.info, self.info.estimator
        x = self.estimator_input(transformed)
        if info.backend == "xgboost":
            out = est.predict(x, output_margin=True)
        elif info.backend == "lightgbm":
            out = est.booster_.predict(transformed, raw_score=True)
        elif not info.is_classifier:
            out = est.predict(x)
        elif info.scale == "log-odds":
            out = est.decision_function(x)
        else:
            return np.asarray(est.predict_proba(x)[:, self.positive_index], dtype=np.float64)
        out = np.asarray(out, dtype=np.float64).reshape(-1)
        return out * self.sign if info.scale == "log-odds" else out

    def to_declared_scale(self, values: FloatArray) -> FloatArray:
        """Explanation-scale outputs -> the output scale the manifest declares."""
        if self.info.scale == "log-odds":
            return _expit(values)
        return values

    def predict_columns(self, columns: Mapping[str, Column]) -> FloatArray:
        """Outputs on the declared scale for encoded columns (permutation models included)."""
        model_input = self.model_input(columns)
        if self.info.family == "permutation":
            return self.predict_model_input(model_input)
        return self.to_declared_scale(self.raw_output(self.transform(model_input)))

    def predict_model_input(self, model_input: Any) -> FloatArray:
        """Whole-model output on the explanation scale, straight from the model input."""
        model = self.model
        if self.info.family != "permutation":
            return self.raw_output(self.transform(model_input))
        if self.info.is_classifier:
            proba = model.predict_proba(model_input)[:, self.positive_index]
            return np.asarray(proba, dtype=np.float64)
        return np.asarray(model.predict(model_input), dtype=np.float64).reshape(-1)


def predict(bundle: ModelBundle, rows: Sequence[Mapping[str, Any]]) -> list[float]:
    """Model outputs for rows, on the scale the manifest declares (probability for
    ``probability``/``class`` kinds)."""
    return [float(v) for v in bundle.predict_columns(bundle.encode(rows))]

"""What the aggregation job knows of a model version: its manifest, the drift reference bins of
its background, and the bands its sensitive values are grouped in (``groups_of``). Read once
per process and cached, as none of it ever changes for a model version."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.registry.models import ModelArtifact, ModelVersion
from portal.supervision import drift

QUARTILES = np.linspace(0.0, 1.0, 5)


@dataclass
class ModelContext:
    """What the job needs to know of a model version (made once per process)."""

    id: int
    manifest: Any  # explainers.Manifest
    threshold: float
    references: dict[str, drift.Reference]
    #: sensitive numeric features: the edges of their four bands (background quartiles)
    bands: dict[str, list[float]]
    sensitive: list[Any]  # FeatureSpec

    def attribute_order(self) -> list[tuple[str, str]]:
        return [("feature", spec.key) for spec in self.sensitive]


_CONTEXTS: dict[int, ModelContext] = {}


def _band_edges(spec: Any, column: Any) -> list[float]:
    if column is not None and len(column):
        return sorted({float(v) for v in np.quantile(column.astype(float), QUARTILES)})
    if spec.min is not None and spec.max is not None:
        return [float(v) for v in np.linspace(spec.min, spec.max, 5)]
    return []


def band_label(edges: Sequence[float], value: float) -> str:
    """The band of a number: ``[lo, hi)`` between two quartiles (the last one closed), or
    below / above the background's range."""
    if not edges:
        return f"{value:g}"
    if value < edges[0]:
        return f"< {edges[0]:g}"
    if value > edges[-1]:
        return f"> {edges[-1]:g}"
    if len(edges) == 1:
        return f"{edges[0]:g}"
    i = min(bisect_right(edges, value, 1, len(edges) - 1) - 1, len(edges) - 2)
    closing = "]" if i == len(edges) - 2 else ")"
    return f"[{edges[i]:g}, {edges[i + 1]:g}{closing}"


def model_context(session: Session, model_version_id: int) -> ModelContext:
    """The context of a model version (read only; cached per process)."""
    cached = _CONTEXTS.get(model_version_id)
    if cached is not None:
        return cached
    from explainers.encoding import parse_background
    from explainers.manifest import parse_manifest

    raw = session.scalar(select(ModelVersion.manifest).where(ModelVersion.id == model_version_id))
    manifest = parse_manifest(raw)
    background_bytes = session.scalar(
        select(ModelArtifact.background).where(ModelArtifact.model_version_id == model_version_id)
    )
    columns: dict[str, Any] = {}
    if background_bytes:
        background, _problems = parse_background(manifest, background_bytes, "")
        if background is not None:
            columns = background.columns
    # The background never changes, so neither do its bins: made again in each process
    # (deterministic), never stored, and the job's reads need no write.
    references = {}
    for spec in manifest.features:
        if spec.type != "date" and spec.key in columns:
            reference = drift.reference_bins(spec, columns[spec.key])
            if reference is not None:
                references[spec.key] = reference
    sensitive = [s for s in manifest.features if s.sensitive or s.special_category]
    bands = {
        s.key: _band_edges(s, columns.get(s.key))
        for s in sensitive
        if s.type in ("number", "integer", "date")
    }
    threshold = manifest.decision_threshold
    context = ModelContext(
        id=model_version_id,
        manifest=manifest,
        threshold=0.5 if threshold is None else float(threshold),
        references=references,
        bands=bands,
        sensitive=sensitive,
    )
    _CONTEXTS[model_version_id] = context
    return context


def groups_of(
    context: ModelContext, features: dict[str, Any], monitoring: dict[str, Any] | None
) -> list[tuple[str, str, str]]:
    """(source, attribute, group) of one decision, for every attribute monitored."""
    out = []
    for spec in context.sensitive:
        value = features.get(spec.key)
        if value is None:
            continue
        if spec.key in context.bands:
            number = float(value) if spec.type != "date" else _days(value)
            group = band_label(context.bands[spec.key], number)
        elif isinstance(value, bool):
            group = "true" if value else "false"
        else:
            group = str(value)
        out.append(("feature", spec.key, group[:100]))
    for key, value in sorted((monitoring or {}).items()):
        group = ("true" if value else "false") if isinstance(value, bool) else str(value)
        out.append(("monitoring", key, group[:100]))
    return out


def _days(value: Any) -> float:
    from explainers.encoding import date_to_days

    return date_to_days(str(value))

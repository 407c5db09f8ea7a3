"""Checking a decision body: the envelope schema, the model version it names (and that the
sending system may post to it), and its features, data sources and output against that
version's manifest; every problem is collected."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, cast

from pydantic import ValidationError
from sqlalchemy import Table, bindparam, exists, or_, select
from sqlalchemy.orm import Session

from portal.canonical import all_text, lone_surrogates, shown
from portal.decisions.schemas import DecisionIn
from portal.registry.models import ModelGrant, ModelVersion

#: The detail code of a model version the sending system may not post to.
NOT_GRANTED = "model-not-granted"

#: Pydantic error types -> our stable detail codes (custom errors keep their own type).
_PYDANTIC_CODES = {
    "missing": "missing-field",
    "extra_forbidden": "unknown-field",
    "model_type": "not-an-object",
    "model_attributes_type": "not-an-object",
    "dict_type": "not-an-object",
    "list_type": "not-a-list",
    "string_type": "wrong-type",
    "bool_type": "wrong-type",
    "float_type": "wrong-type",
    "int_type": "wrong-type",
    "string_too_short": "too-short",
    "string_too_long": "too-long",
    "too_short": "too-few-items",
    "too_long": "too-many-items",
    "string_pattern_mismatch": "invalid-format",
    "timezone_aware": "timezone-required",
    "string_unicode": "invalid-text",
    "datetime_type": "wrong-type",
    "datetime_parsing": "invalid-format",
    "datetime_from_date_parsing": "invalid-format",
}


def _text_problems(obj: Any, prefix: str) -> list[dict[str, Any]]:
    if all_text(obj):
        return []
    return [
        {
            "field": f"{prefix}{where}",
            "code": "invalid-text",
            "message": "the text holds a lone UTF-16 surrogate, which is not a character",
        }
        for where in lone_surrogates(obj)
    ]


def _float_range(features: Mapping[str, Any]) -> Mapping[str, Any]:
    """``features`` with every integer too large for a float as infinity, so the manifest
    check reports it as not finite (with its field) instead of failing to convert it."""
    screened = None
    for key, value in features.items():
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                float(value)
            except OverflowError:
                screened = screened if screened is not None else dict(features)
                screened[key] = math.inf if value > 0 else -math.inf
    return features if screened is None else screened


def pydantic_details(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic errors -> ``[{field, code, message}]`` (never the input values: personal data)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in err["loc"])
        out.append(
            {
                # a key that is not text is shown escaped (it has no UTF-8 form)
                "field": shown(f"{prefix}{where}" if where else prefix.rstrip(".") or "body"),
                "code": _PYDANTIC_CODES.get(err["type"], err["type"].replace("_", "-")),
                "message": err["msg"],
            }
        )
    return out


# --- model versions: cached parsed manifests --------------------------------------------------

# A registered version never changes, so its parsed manifest is cached by id + artifact hash;
# only the (mutable) status is read per request.
_MANIFESTS: dict[tuple[int, str], Any] = {}
_MANIFEST_CACHE_SIZE = 64


_VERSION = cast(Table, ModelVersion.__table__)
# Core, built once: it runs for every decision received.
_MODEL_ROW = select(
    _VERSION.c.id,
    _VERSION.c.status,
    _VERSION.c.artifact_sha256,
    _VERSION.c.registered_by_system_id,
).where(_VERSION.c.name == bindparam("name"), _VERSION.c.version == bindparam("version"))
_GRANTS = cast(Table, ModelGrant.__table__)
# Asked only when the sender did not register the version itself.
_GRANTED = select(
    exists().where(
        _GRANTS.c.system_id == bindparam("system_id"),
        _GRANTS.c.model_name == bindparam("name"),
        or_(_GRANTS.c.model_version.is_(None), _GRANTS.c.model_version == bindparam("version")),
    )
)


@dataclass(frozen=True)
class ModelChoice:
    id: int
    status: str
    manifest: Any  # explainers.Manifest
    #: the sending system registered this version or has been granted it
    granted: bool


class ModelCatalog:
    """Looks up the model versions named by decisions of one sending system, and whether
    that system may post to them (memoised for one request)."""

    def __init__(self, session: Session, system_id: int) -> None:
        self.session = session
        self.system_id = system_id
        self._seen: dict[tuple[str, str], ModelChoice | None] = {}

    def get(self, name: str, version: str) -> ModelChoice | None:
        key = (name, version)
        if key not in self._seen:
            self._seen[key] = self._load(name, version)
        return self._seen[key]

    def _load(self, name: str, version: str) -> ModelChoice | None:
        from explainers.manifest import parse_manifest

        row = self.session.execute(_MODEL_ROW, {"name": name, "version": version}).first()
        if row is None:
            return None
        model_id, status, artifact_sha256, owner_id = row
        granted = owner_id == self.system_id or bool(
            self.session.scalar(
                _GRANTED, {"system_id": self.system_id, "name": name, "version": version}
            )
        )
        cache_key = (model_id, artifact_sha256)
        manifest = _MANIFESTS.get(cache_key)
        if manifest is None:
            raw = self.session.scalar(
                select(ModelVersion.manifest).where(ModelVersion.id == model_id)
            )
            manifest = parse_manifest(raw)
            if len(_MANIFESTS) >= _MANIFEST_CACHE_SIZE:
                _MANIFESTS.pop(next(iter(_MANIFESTS)))
            _MANIFESTS[cache_key] = manifest
        return ModelChoice(model_id, status, manifest, granted)


# --- validation -----------------------------------------------------------------------------


def validate_decision(
    catalog: ModelCatalog, obj: Any, *, schema: type[DecisionIn] = DecisionIn, prefix: str = ""
) -> tuple[DecisionIn | None, ModelChoice | None, list[dict[str, Any]]]:
    """Check one decision body; returns (parsed, model, every problem found).

    Problems from the envelope schema, the model lookup, the features (missing, unknown,
    type, range, category) and the data sources are all collected, not just the first.
    """
    from explainers.encoding import row_problems

    details: list[dict[str, Any]] = []
    parsed: DecisionIn | None = None
    try:
        parsed = schema.model_validate(obj)
    except ValidationError as exc:
        details.extend(
            d
            for d in pydantic_details(exc, prefix)
            if not d["field"].startswith(f"{prefix}features.")
        )
    if not isinstance(obj, Mapping):
        return None, None, details
    not_text = _text_problems(obj, prefix)
    if not_text:  # nothing that is not text is looked up, compared or shown
        found = {(d["field"], d["code"]) for d in details}
        details.extend(d for d in not_text if (d["field"], d["code"]) not in found)
        return None, None, details
    model_ref, features = obj.get("model"), obj.get("features")
    if not (
        isinstance(model_ref, Mapping)
        and isinstance(model_ref.get("name"), str)
        and isinstance(model_ref.get("version"), str)
    ):
        return None, None, details
    choice = catalog.get(model_ref["name"], model_ref["version"])
    where = f"{prefix}model"
    if choice is None:
        details.append(
            {
                "field": where,
                "code": "unknown-model-version",
                "message": "no registered model has this name and version",
            }
        )
    elif not choice.granted:
        # Nothing more is checked (or told) about a model the system may not use.
        return (
            None,
            choice,
            [
                {
                    "field": where,
                    "code": NOT_GRANTED,
                    "message": "this system may not post decisions to this model version",
                }
            ],
        )
    elif choice.status == "retired":
        details.append(
            {
                "field": where,
                "code": "model-version-retired",
                "message": "this model version is retired and accepts no decisions",
            }
        )
    elif choice.status != "active":
        details.append(
            {
                "field": where,
                "code": "model-version-not-active",
                "message": "this model version is registered but not activated",
            }
        )
    if choice is not None:
        details.extend(_output_problems(choice.manifest, obj.get("model_output"), prefix))
    if choice is not None and isinstance(features, Mapping):
        for problem in row_problems(choice.manifest, _float_range(features), f"{prefix}features."):
            details.append(
                {"field": problem.path, "code": problem.code, "message": problem.message}
            )
        sources = obj.get("data_sources")
        if isinstance(sources, Mapping):
            known = set(choice.manifest.feature_keys)
            for key in sources:
                if key not in known:
                    details.append(
                        {
                            "field": f"{prefix}data_sources.{key}",
                            "code": "unknown-feature",
                            "message": "data source for a feature not in the manifest",
                        }
                    )
    if details:
        return None, choice, details
    return parsed, choice, []


def _output_problems(manifest: Any, output: Any, prefix: str) -> list[dict[str, Any]]:
    """A probability is between 0 and 1 (a value outside is not flagged, it is refused);
    a value of the wrong type is already reported by the schema."""
    if manifest.output_kind != "probability" or isinstance(output, bool):
        return []
    if isinstance(output, int | float) and not 0 <= output <= 1:
        return [
            {
                "field": f"{prefix}model_output",
                "code": "out-of-range",
                "message": "a probability model's output must be between 0 and 1",
            }
        ]
    return []

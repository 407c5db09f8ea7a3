"""The JSON Schema (draft 2020-12) of the register's JSON, published at
``/algoritmer.schema.json``. ``/algoritmer.json`` and ``/algoritmer/<name>.json`` are both
a register document: the first holds every public version, the second one model's."""

from __future__ import annotations

from typing import Any

SCHEMA_VERSION = "1"
DIALECT = "https://json-schema.org/draft/2020-12/schema"


def _nullable(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


_TEXT: dict[str, Any] = {"$ref": "#/$defs/text"}
_OPT_TEXT = _nullable(_TEXT)
_TIME = {"type": "string", "format": "date-time"}
_OPT_TIME = _nullable(_TIME)
_RATE = _nullable({"type": "number", "minimum": 0, "maximum": 1})
_COUNT = {"type": "integer", "minimum": 0}


def _object(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties) if required is None else required,
        "additionalProperties": False,
    }


_FEATURE = _object(
    {
        "key": {"type": "string"},
        "label": _TEXT,
        "source": _TEXT,
        "sensitive": {"type": "boolean"},
        "special_category": {"type": "boolean"},
        "legal_basis": _OPT_TEXT,
    }
)

_FAIRNESS_GROUP = _object(
    {
        "group": {"type": "string"},
        "label": _TEXT,
        "n": _nullable(_COUNT),
        "selection_rate": _RATE,
        "observed_rate": _RATE,
        "mean_output": _nullable({"type": "number"}),
        "auc": _RATE,
    }
)

_FAIRNESS = _object(
    {
        "evaluated_on": _nullable({"type": "string"}),
        "threshold": _nullable({"type": "number"}),
        "description": _OPT_TEXT,
        "by_feature": {
            "type": "array",
            "items": _object(
                {
                    "feature": {"type": "string"},
                    "label": _TEXT,
                    "max_selection_rate_gap": _RATE,
                    "groups": {"type": "array", "items": _FAIRNESS_GROUP},
                }
            ),
        },
    }
)

_ENTRY = _object(
    {
        "name": {"type": "string", "minLength": 1},
        "version": {"type": "string", "minLength": 1},
        "status": {"enum": ["active", "retired"]},
        "title": _TEXT,
        "description": _OPT_TEXT,
        "purpose": _TEXT,
        "legal_basis": _OPT_TEXT,
        "special_category_legal_basis": _OPT_TEXT,
        "responsible_unit": {"type": "string", "minLength": 1},
        "contact": _nullable(
            _object(
                {
                    "email": _nullable({"type": "string", "format": "email"}),
                    "phone": _nullable({"type": "string"}),
                    "name": _OPT_TEXT,
                    "text": _nullable({"type": "string"}),
                }
            )
        ),
        "human_oversight": _OPT_TEXT,
        "risk_class": _nullable(
            _object(
                {
                    "ai_act": {"enum": ["high-risk", "not-high-risk"]},
                    "annex_iii": _nullable({"type": "string"}),
                    "explanation": _OPT_TEXT,
                }
            )
        ),
        "output": _object(
            {
                "kind": {"enum": ["probability", "score", "class"]},
                "label": _OPT_TEXT,
                "threshold": _nullable({"type": "number"}),
            }
        ),
        "data": {
            "type": "array",
            "items": _object(
                {
                    "key": {"type": "string"},
                    "label": _TEXT,
                    "legal_basis": _OPT_TEXT,
                    "features": {"type": "array", "items": _FEATURE},
                }
            ),
        },
        "model_card": _object(
            {
                "training_data": _OPT_TEXT,
                "metrics": {
                    "type": "object",
                    "additionalProperties": {"type": ["number", "string"]},
                },
                "fairness": _nullable(_FAIRNESS),
                "dpia_reference": _nullable({"type": "string"}),
            }
        ),
        "retention_days": _nullable({"type": "integer", "minimum": 1}),
        "dates": _object(
            {
                "registered_at": _TIME,
                "activated_at": _OPT_TIME,
                "first_decision_at": _OPT_TIME,
                "retired_at": _OPT_TIME,
            }
        ),
        "figures": _object(
            {
                "decisions": _COUNT,
                "overridden": _COUNT,
                "override_share": _RATE,
                "open_requests": _COUNT,
            }
        ),
        "links": _object({"html": {"type": "string"}, "json": {"type": "string"}}),
    }
)


def register_schema(schema_id: str) -> dict[str, Any]:
    """The schema document, its ``$id`` the address it is published at."""
    return {
        "$schema": DIALECT,
        "$id": schema_id,
        "title": "Forklaringsportalen algorithm register",
        "description": (
            "Model versions a municipality uses to support decisions, with the fields of the "
            "Dutch algorithm register's publication standard and the UK Algorithmic "
            "Transparency Recording Standard. Texts are objects by language; Danish ('da') "
            "is always there. Times are UTC (RFC 3339)."
        ),
        **_object(
            {
                "$schema": {"type": "string"},
                "schema_version": {"const": SCHEMA_VERSION},
                "publisher": _object({"name": {"type": "string"}, "url": {"type": "string"}}),
                "generated_at": _TIME,
                "algorithms": {"type": "array", "items": {"$ref": "#/$defs/entry"}},
            }
        ),
        "$defs": {
            "text": {
                "type": "object",
                "properties": {"da": {"type": "string", "minLength": 1}},
                "required": ["da"],
                "additionalProperties": {"type": "string"},
            },
            "entry": _ENTRY,
        },
    }

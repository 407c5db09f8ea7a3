"""Pydantic schemas of the machine API: request bodies (unknown fields refused) and answers.

The OpenAPI document is generated from these (``model_json_schema``), so the field
descriptions here are the API reference.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
)
from pydantic_core import PydanticCustomError

from portal.decisions.cpr import cpr_problem

_STRICT = ConfigDict(extra="forbid", strict=True)


def _danish_required(value: dict[str, str]) -> dict[str, str]:
    if not value.get("da", "").strip():
        raise PydanticCustomError(
            "missing-danish-text", "a non-empty Danish ('da') text is required"
        )
    return value


def _valid_cpr(value: str) -> str:
    problem = cpr_problem(value)
    if problem is not None:
        # never echo the value: it is a personal identifier
        raise PydanticCustomError(problem[0], problem[1])
    return value.replace("-", "")


def _finite(value: float) -> float:
    if not math.isfinite(value):
        raise PydanticCustomError("not-finite", "a finite number is required")
    return float(value)


LocalText = Annotated[
    dict[
        Annotated[str, Field(pattern=r"^[a-z]{2}$")], Annotated[StrictStr, Field(max_length=2000)]
    ],
    AfterValidator(_danish_required),
    Field(
        description="Text per language code; Danish ('da') is required.",
        # What the validators enforce, stated in the document too: only two-letter codes,
        # and a non-blank Danish text.
        json_schema_extra={
            "additionalProperties": False,
            "required": ["da"],
            "properties": {"da": {"type": "string", "maxLength": 2000, "pattern": r"\S"}},
        },
    ),
]
#: The moments a decision or a register fetch can name. Anything outside is a sender's
#: mistake, and near the ends of ``datetime`` (years 1 and 9999) a conversion to UTC or to
#: Danish time for a page would overflow.
EARLIEST = dt.datetime(1900, 1, 1, tzinfo=dt.UTC)
LATEST = dt.datetime(2999, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


def _timestamp_text(value: Any) -> Any:
    # Only text: lax parsing would also take a number as Unix seconds.
    if not isinstance(value, str):
        raise PydanticCustomError("wrong-type", "an ISO 8601 date-time text is required")
    return value


def _in_utc(value: dt.datetime) -> dt.datetime:
    try:
        moment = value.astimezone(dt.UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00
        moment = None
    if moment is None or not EARLIEST <= moment <= LATEST:
        raise PydanticCustomError(
            "date-out-of-range",
            "the date-time must be between 1900-01-01 and 2999-12-31 (UTC)",
        )
    return moment


Timestamp = Annotated[
    AwareDatetime,
    BeforeValidator(_timestamp_text),
    AfterValidator(_in_utc),
    Field(
        strict=False,
        description=(
            "ISO 8601 date-time with a UTC offset, between 1900-01-01 and 2999-12-31 (UTC)."
        ),
    ),
]


class ModelRef(BaseModel):
    model_config = _STRICT
    name: StrictStr = Field(min_length=1, max_length=100)
    version: StrictStr = Field(min_length=1, max_length=50)


class CaseIn(BaseModel):
    model_config = _STRICT
    reference: StrictStr = Field(min_length=1, max_length=100, description="The case number.")
    title: LocalText


class SubjectIn(BaseModel):
    model_config = _STRICT
    cpr: Annotated[
        StrictStr,
        Field(
            min_length=10,
            max_length=11,
            json_schema_extra={"pattern": r"^[0-9]{6}-?[0-9]{4}$"},
            description=(
                "CPR number, DDMMYYSSSS or DDMMYY-SSSS. Checked as a real birth date with the "
                "century rule of the 7th digit; the modulus-11 check is not applied. Stored "
                "encrypted and never echoed in answers or logs."
            ),
        ),
        AfterValidator(_valid_cpr),
    ]


class DataSource(BaseModel):
    model_config = _STRICT
    fetched_at: Timestamp


class DecisionFacts(BaseModel):
    model_config = _STRICT
    outcome: LocalText
    decided_by: StrictStr = Field(min_length=1, max_length=200)
    human_decided: StrictBool
    followed_model: StrictBool
    decided_at: Timestamp
    reason: LocalText | None = Field(
        default=None,
        description=(
            "Why the decider did not follow the model, per language (Danish required), "
            "in words a citizen understands. Shown on the citizen's page; stored encrypted."
        ),
    )


MonitoringKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,49}$")]
MonitoringValue = Annotated[StrictStr, Field(min_length=1, max_length=100)] | StrictInt | StrictBool


class DecisionIn(BaseModel):
    """One decision, as sent to ``POST /api/v1/decisions`` (and as each batch item)."""

    model_config = _STRICT
    model: ModelRef
    case: CaseIn
    subject: SubjectIn
    # Values are checked against the manifest by the service (type, range, category), so
    # every problem is reported with the feature's own code instead of a union error here.
    features: dict[str, Any] = Field(
        description=(
            "Feature values keyed by the manifest's feature keys: every feature, no other key. "
            "number/integer: JSON numbers within min/max; boolean: true/false; category: one "
            "of the manifest's categories; date: YYYY-MM-DD."
        ),
        max_length=500,
        json_schema_extra={"additionalProperties": {"type": ["number", "boolean", "string"]}},
    )
    data_sources: dict[str, DataSource] = Field(
        default_factory=dict,
        description="Per feature key: when the value was fetched from its source register.",
        max_length=500,
    )
    model_output: Annotated[float, AfterValidator(_finite)] = Field(
        description="The model output the sender saw, on the manifest's output scale."
    )
    decision: DecisionFacts
    supersedes: StrictStr | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description=(
            "Optional: the id (from its 202 answer) of an earlier decision this system sent "
            "about the same person, which this one corrects (e.g. after wrong data was "
            "reported). The citizen sees the new explanation, what changed, and the old one "
            "as history. An unknown id, another system's or another person's decision, or "
            "one already corrected, is refused (422)."
        ),
    )
    monitoring: dict[MonitoringKey, MonitoringValue] | None = Field(
        default=None,
        max_length=10,
        description=(
            "Attributes for fairness monitoring only (e.g. gender or an age band), at most 10: "
            "a key of lower-case letters, digits and _, a value that is a text (1-100 "
            "characters), an integer or a boolean; each value is one group. Stored "
            "encrypted, never given to the model, never shown to the citizen; auditors see "
            "only counts and rates per group."
        ),
    )


class BatchItemIn(DecisionIn):
    """A decision inside a batch, with its own idempotency key."""

    id: StrictStr = Field(
        min_length=1,
        max_length=200,
        pattern=r"^[\x21-\x7e]+$",
        description=(
            "Idempotency key of this item, unique per system forever (shared with webhook-ids "
            "of single decisions)."
        ),
    )


class BatchIn(BaseModel):
    """``POST /api/v1/decisions/batch``: up to 1,000 decisions."""

    model_config = _STRICT
    # Items are validated one by one (one bad item must not reject the others, even one
    # that is not an object), so the envelope only requires a list here; the item schema
    # is BatchItemIn.
    items: list[Any] = Field(min_length=1, max_length=1000)


class OutcomeIn(BaseModel):
    """``POST /api/v1/decisions/{id}/outcome``: the real outcome, once it is known."""

    model_config = _STRICT
    actual_positive: StrictBool = Field(
        description=(
            "Whether the real outcome was the model's positive class (e.g. the person was in "
            "fact unemployed for more than a year). Used only for equalised-odds figures."
        )
    )
    observed_at: Timestamp | None = Field(
        default=None, description="When the outcome was observed, if known."
    )


# --- answers -------------------------------------------------------------------------------


class Links(BaseModel):
    self: str


class DecisionAccepted(BaseModel):
    """Answer to a new decision (202) or a repeated one (200, the original answer)."""

    id: str = Field(description="Opaque public id of the decision.")
    status: Literal["pending", "ready", "failed"]
    links: Links


class ErrorDetail(BaseModel):
    field: str
    code: str
    message: str


class ErrorInfo(BaseModel):
    code: str = Field(description="Stable kebab-case error code.")
    message: str
    details: list[dict[str, Any]] = Field(default_factory=list)


class ErrorBody(BaseModel):
    error: ErrorInfo


class BatchItemResult(BaseModel):
    id: str | None = Field(description="The item's id (null when the item had none).")
    index: int
    status: Literal["accepted", "duplicate", "rejected"]
    decision: DecisionAccepted | None = None
    error: ErrorInfo | None = None


class BatchCounts(BaseModel):
    accepted: int
    duplicate: int
    rejected: int


class BatchResult(BaseModel):
    """Per-item answer to a batch (always 200 once the batch envelope is valid)."""

    items: list[BatchItemResult]
    counts: BatchCounts


class FeatureContribution(BaseModel):
    key: str
    value: float
    direction: int = Field(description="+1 towards the positive outcome, -1 against, 0 none.")
    consideration: str


class ExplanationOut(BaseModel):
    """The stored explanation (see ``portal.decisions.explanations`` for the meaning)."""

    scale: str
    base_value: float
    output: float
    threshold: float | None
    outcome: bool | None
    features: list[FeatureContribution]
    considerations: dict[str, float]
    ranking: list[str]
    flags: list[dict[str, Any]]
    counterfactual: dict[str, Any] | None
    # done | pending (computed after the explanation, shortly) | failed | off
    counterfactual_status: Literal["done", "pending", "failed", "off"]
    reproducibility: dict[str, Any]


class DecisionStatus(BaseModel):
    id: str
    status: Literal["pending", "ready", "failed"]
    reason: str | None = None
    model: ModelRef
    case_reference: str
    received_at: dt.datetime
    reported_output: float
    recomputed_output: float | None
    output_mismatch: bool
    explanation: ExplanationOut | None
    links: Links


class OutcomeRecorded(BaseModel):
    """Answer to a reported outcome: 201 the first time, 200 for the same outcome again."""

    id: str = Field(description="The decision's public id.")
    actual_positive: bool
    reported_at: dt.datetime
    links: Links


class ModelRegistered(BaseModel):
    name: str
    version: str
    status: str
    artifact_sha256: str
    background_sha256: str | None
    explainer_kind: str | None
    warnings: list[dict[str, Any]]
    links: Links

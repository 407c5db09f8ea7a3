"""From stored rows to what the explanation page says: sentences, chart, tables.

No database access and no side effects: :func:`present_case` takes a
:class:`~portal.cases.services.CaseDetail` and returns plain data for the template (and
the PDF, which uses the same partial templates). Texts follow the current locale.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from flask_babel import gettext as _
from markupsafe import Markup

from portal.cases import language as lang
from portal.cases.chart import WIDE, Bar, render_chart
from portal.cases.services import CaseDetail
from portal.decisions.explanations import StoredExplanation
from portal.i18n import localized

# A consideration or data point below this size is listed in the table, not told in words.
MAX_SENTENCES_PER_CONSIDERATION = 3


@dataclass(frozen=True)
class DataPointRow:
    key: str
    label: str
    value: str
    source: str
    fetched_at: dt.datetime | None
    consideration: str
    points: str = ""
    direction: str = ""
    size: str = ""
    sentence: str = ""


@dataclass(frozen=True)
class ConsiderationBlock:
    key: str
    label: str
    sentence: str
    size: str
    legal_basis: str
    sentences: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class CounterfactualText:
    found: bool
    sentences: list[str]


@dataclass(frozen=True)
class SensitiveUse:
    """A data point about who the person is (``sensitive``) or of a special category (GDPR
    art. 9, ``special_category``) that the model uses, and the rule that allows it."""

    label: str
    legal_basis: str
    special_category: bool


@dataclass(frozen=True)
class CasePage:
    """Everything the explanation partial renders."""

    title: str
    case_reference: str
    outcome: str
    decided_by: str
    decided_at: dt.datetime
    human_decided: bool
    followed_model: bool
    model_name: str
    model_title: str
    model_purpose: str
    model_legal_basis: str
    model_oversight: str
    output_label: str
    state: str
    retired: bool
    data_points: list[DataPointRow]
    # What the model recommended, in words (manifest ``output.recommendation``), and the
    # caseworker's reason when they did not follow it (``decision.reason``).
    recommendation: str = ""
    decision_reason: str = ""
    sensitive_uses: list[SensitiveUse] = field(default_factory=list)
    # A caseworker's assessment of the model's advice (agreed | overrode), never a name.
    oversight_verdict: str = ""
    oversight_reason: str = ""
    oversight_at: dt.datetime | None = None
    output: str = ""
    base: str = ""
    threshold: str = ""
    advice_sentence: str = ""
    summary: str = ""
    chart_legend: str = ""
    considerations: list[ConsiderationBlock] = field(default_factory=list)
    ranked: list[DataPointRow] = field(default_factory=list)
    chart: Markup | None = None
    chart_print: Markup | None = None
    counterfactual: CounterfactualText | None = None
    sensitive_notes: list[str] = field(default_factory=list)


def _fetched_at(sources: dict[str, Any], key: str) -> dt.datetime | None:
    raw = (sources.get(key) or {}).get("fetched_at")
    if not raw:
        return None
    try:
        moment = dt.datetime.fromisoformat(str(raw).replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)


def _recommendation(detail: CaseDetail) -> str:
    """The manifest's recommendation text for the side of the threshold the model's output
    is on ("" when the manifest has none, or no threshold)."""
    output_spec = detail.manifest.get("output") or {}
    texts = output_spec.get("recommendation") or {}
    threshold = output_spec.get("threshold")
    if not isinstance(texts, dict) or threshold is None:
        return ""
    exp = detail.explanation
    if exp is not None and exp.outcome is not None:
        above = bool(exp.outcome)
    else:
        decision = detail.decision
        output = decision.recomputed_output
        if output is None:
            output = decision.reported_output
        above = float(output) >= float(threshold)
    return localized(texts.get("above" if above else "below"))


def sensitive_uses(manifest: dict[str, Any]) -> list[SensitiveUse]:
    """The manifest's sensitive and special-category features with their legal basis: for
    special-category data (GDPR art. 9) the manifest's ``special_category_legal_basis``;
    else, or without it, the feature's own ``legal_basis``, else its consideration's."""
    considerations = {c.get("key"): c for c in manifest.get("considerations", [])}
    special_basis = localized(manifest.get("special_category_legal_basis"))
    uses = []
    for spec in manifest.get("features", []):
        special = spec.get("special_category") is True
        if not (special or spec.get("sensitive") is True):
            continue
        basis = (special_basis if special else "") or localized(spec.get("legal_basis"))
        if not basis:
            consideration = considerations.get(spec.get("consideration"), {})
            basis = localized(consideration.get("legal_basis"))
        if not basis:
            basis = _("the rules under “About the model” below.")
        uses.append(
            SensitiveUse(
                label=localized(spec.get("label")) or str(spec.get("key")),
                legal_basis=basis,
                special_category=special,
            )
        )
    return uses


def _oversight(detail: CaseDetail) -> dict[str, Any]:
    record = detail.oversight
    if record is None:
        return {}
    return {
        "oversight_verdict": record.verdict,
        "oversight_reason": record.reason or "",
        "oversight_at": record.created_at,
    }


def present_case(detail: CaseDetail) -> CasePage:
    """Build the page for one decision (any state)."""
    decision, manifest = detail.decision, detail.manifest
    features = {f["key"]: f for f in manifest.get("features", [])}
    considerations = {c["key"]: c for c in manifest.get("considerations", [])}
    values = decision.features or {}
    sources = decision.data_sources or {}

    def row(key: str, **extra: Any) -> DataPointRow:
        spec = features.get(key, {"key": key})
        cons = considerations.get(spec.get("consideration", ""), {})
        return DataPointRow(
            key=key,
            label=localized(spec.get("label")) or key,
            value=lang.format_value(spec, values.get(key)),
            source=localized(spec.get("source")),
            fetched_at=_fetched_at(sources, key),
            consideration=localized(cons.get("label")),
            **extra,
        )

    page = CasePage(
        title=localized(decision.case_title),
        case_reference=decision.case_reference,
        outcome=localized(decision.outcome),
        decided_by=decision.decided_by,
        decided_at=decision.decided_at,
        human_decided=decision.human_decided,
        followed_model=decision.followed_model,
        model_name=detail.model.name,
        model_title=localized(manifest.get("title")),
        model_purpose=localized(manifest.get("purpose")),
        model_legal_basis=localized(manifest.get("legal_basis")),
        model_oversight=localized(manifest.get("human_oversight")),
        output_label=localized((manifest.get("output") or {}).get("label")),
        state=detail.state,
        retired=detail.retired,
        data_points=[row(key) for key in features],
        recommendation=_recommendation(detail),
        decision_reason=localized(getattr(decision, "decision_reason", None)),
        sensitive_uses=sensitive_uses(manifest),
        **_oversight(detail),
    )
    if detail.explanation is None:
        return page
    return _with_explanation(page, detail, detail.explanation, row, features, considerations)


def _with_explanation(
    page: CasePage,
    detail: CaseDetail,
    exp: StoredExplanation,
    row: Any,
    features: dict[str, Any],
    considerations: dict[str, Any],
) -> CasePage:
    scale = exp.scale
    target = lang.target_of(exp.threshold is not None, detail.decision.followed_model)
    total = sum(abs(c.value) for c in exp.contributions)

    ranked: list[DataPointRow] = []
    for position, c in enumerate(exp.contributions):
        relative = lang.relative_direction(c.direction, target, exp.outcome)
        size = lang.size_of(c.value, scale, total)
        if position == 0 and size != lang.NONE:
            size = lang.MOST
        base_row = row(c.key)
        subject = lang.subject_with_value(base_row.label, base_row.value)
        ranked.append(
            DataPointRow(
                key=base_row.key,
                label=base_row.label,
                value=base_row.value,
                source=base_row.source,
                fetched_at=base_row.fetched_at,
                consideration=base_row.consideration,
                points=lang.format_points(c.value, scale, signed=False),
                direction=lang.direction_word(target, relative),
                size=str(lang.SIZE_WORDS[size]),
                sentence=lang.capitalize_first(lang.sentence(subject, target, relative, size)),
            )
        )
    by_key = {r.key: r for r in ranked}

    blocks: list[ConsiderationBlock] = []
    for position, cs in enumerate(exp.considerations):
        spec = considerations.get(cs.key, {})
        label = localized(spec.get("label")) or cs.key
        relative = lang.relative_direction(cs.direction, target, exp.outcome)
        size = lang.size_of(cs.value, scale, total)
        if position == 0 and size != lang.NONE:
            size = lang.MOST
        members = [
            by_key[c.key].sentence
            for c in exp.contributions
            if features.get(c.key, {}).get("consideration") == cs.key
            and lang.size_of(c.value, scale, total) != lang.NONE
        ][:MAX_SENTENCES_PER_CONSIDERATION]
        blocks.append(
            ConsiderationBlock(
                key=cs.key,
                label=label,
                sentence=lang.sentence(label, target, relative, size),
                size=size,
                legal_basis=localized(spec.get("legal_basis")),
                sentences=members,
            )
        )

    bars = [
        Bar(
            label=r.label,
            value=c.value,
            value_text=lang.format_points(c.value, scale, signed=False),
            toward=lang.relative_direction(c.direction, target, exp.outcome) > 0,
        )
        for r, c in zip(ranked, exp.contributions, strict=True)
    ]
    output = lang.format_output(exp.output, scale, exp.threshold)
    base = lang.format_output(exp.base_value, scale, exp.threshold)
    threshold = "" if exp.threshold is None else lang.format_output(exp.threshold, scale)
    if exp.threshold is None:
        advice = ""
    elif exp.outcome:
        advice = _("The result was at or above the limit of %(limit)s.", limit=threshold)
    else:
        advice = _("The result was below the limit of %(limit)s.", limit=threshold)
    summary = _(
        "The model starts from %(base)s, the average. Each piece of data pulls the result "
        "one way or the other. In your case the result was %(output)s. The table below the "
        "chart shows the same numbers.",
        base=base,
        output=output,
    )
    sensitive_notes = [
        _(
            "A piece of data about who you are weighed a lot: %(label)s. We keep a special "
            "eye on this, so that no one is treated unfairly.",
            label=by_key[f.feature].label,
        )
        for f in exp.flags
        if f.code == "sensitive-top-contributor" and f.feature in by_key
    ]
    return CasePage(
        **{
            **page.__dict__,
            "output": output,
            "base": base,
            "threshold": threshold,
            "advice_sentence": advice,
            "summary": summary,
            "chart_legend": lang.chart_legend(target),
            "considerations": blocks,
            "ranked": ranked,
            "chart": render_chart(bars, chart_id="chart", described_by="chart-summary"),
            "chart_print": render_chart(
                bars, chart_id="chart", described_by="chart-summary", layouts=(WIDE,)
            ),
            "counterfactual": _counterfactual(exp, features, scale),
            "sensitive_notes": sensitive_notes,
        }
    )


def _counterfactual(
    exp: StoredExplanation, features: dict[str, Any], scale: str
) -> CounterfactualText | None:
    """What could have changed the result; None where the model's manifest shows no such
    list for this outcome (``output.counterfactual_for``), so the page has no section."""
    if exp.counterfactual is not None and not exp.counterfactual.for_this_outcome:
        return None
    cf = exp.counterfactual
    if cf is None and exp.counterfactual_status == "pending":
        return CounterfactualText(
            found=False,
            sentences=[
                _(
                    "We are still working out what could have changed the result. "
                    "Look again in a little while."
                )
            ],
        )
    if cf is None:  # the search failed or is switched off
        return CounterfactualText(
            found=False,
            sentences=[_("We could not work out what could have changed the result.")],
        )
    if not cf.found or not cf.changes:
        return CounterfactualText(
            found=False,
            sentences=[
                _(
                    "We found no small change in data that can change over time, which would "
                    "have given a different result."
                )
            ],
        )
    sentences = []
    for change in cf.changes:
        spec = features.get(change.feature, {})
        sentences.append(
            _(
                "%(label)s: %(new)s instead of %(old)s.",
                label=localized(spec.get("label")) or change.feature,
                new=lang.format_value(spec, change.new),
                old=lang.format_value(spec, change.old),
            )
        )
    limit = cf.threshold if cf.threshold is not None else exp.threshold
    if cf.new_output is not None:
        sentences.append(
            _(
                "Then the result would have been %(new)s instead of %(old)s.",
                new=lang.format_output(cf.new_output, scale, limit),
                old=lang.format_output(cf.original_output, scale, limit),
            )
        )
    return CounterfactualText(found=True, sentences=sentences)

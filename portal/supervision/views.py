"""The auditors' dashboards at /tilsyn (auditor and administrator roles).

Each page reads what the worker's aggregation job stored (reports and counts), never the
decisions themselves, so it answers as fast over a million decisions as over a thousand.
"""

from __future__ import annotations

from typing import Any

from babel.numbers import format_percent
from flask import Blueprint, current_app

from portal.auth.principal import staff_required
from portal.cases.language import format_value
from portal.db import utcnow
from portal.db_session import render_page, request_session
from portal.i18n import current_language, localized
from portal.supervision import charts, services

bp = Blueprint("supervision", __name__, template_folder="templates", url_prefix="/tilsyn")
AUDITORS = ("auditor", "admin")


@bp.app_template_filter("percent")
def percent(value: float | None) -> str:
    """A share as a percentage with one decimal (``12,5 %``); a dash when there is none."""
    if value is None:
        return "–"
    return format_percent(value, format="#,##0.0 %", locale=current_language())


@bp.get("")
@staff_required(*AUDITORS)
def overview() -> str:
    settings = current_app.config["SETTINGS"]
    data = services.overview(
        request_session(), now=utcnow(), response_days=settings.request_response_days
    )
    return render_page("supervision/overview.html", data=data)


def _label(page: Any, source: str, key: str) -> Any:
    if source == "feature" and key in page.model.labels:
        return localized(page.model.labels[key])
    return key


def _group_label(page: Any, source: str, key: str, group: str) -> str:
    """A group as the manifest names it ("Nørrebro", "Ja"); an age band or a monitoring
    value as sent."""
    feature = page.model.features.get(key) if source == "feature" else None
    if feature is None:
        return group
    if feature.get("type") == "boolean" and group in ("true", "false"):
        return format_value(feature, group == "true")
    if feature.get("type") == "category":
        return format_value(feature, group)
    return group


@bp.get("/<name>/<version>/retfaerdighed")
@staff_required(*AUDITORS)
def fairness(name: str, version: str) -> str:
    page = services.report_page(request_session(), name, version, "fairness")
    figures = []
    for i, attribute in enumerate((page.body or {}).get("attributes", [])):
        source, key = attribute["source"], attribute["attribute"]
        names = [_group_label(page, source, key, g["group"]) for g in attribute["groups"]]
        bars = [
            charts.Bar(name, g["outcome_rate"] or 0.0, percent(g["outcome_rate"]), g["too_small"])
            for name, g in zip(names, attribute["groups"], strict=True)
        ]
        figures.append(
            {
                "label": _label(page, attribute["source"], attribute["attribute"]),
                "group_names": names,
                "data": attribute,
                "chart": charts.bar_chart(
                    bars, chart_id=f"fairness-chart-{i}", labelled_by=f"fairness-table-{i}"
                ),
            }
        )
    return render_page("supervision/fairness.html", page=page, figures=figures)


@bp.get("/<name>/<version>/drift")
@staff_required(*AUDITORS)
def drift(name: str, version: str) -> str:
    page = services.report_page(request_session(), name, version, "drift")
    body = page.body or {}
    threshold = body.get("thresholds", {}).get("psi", 0.2)
    chart = charts.line_chart(
        [charts.Point(w["week"], w["max_psi"]) for w in body.get("weeks", [])],
        chart_id="drift-chart",
        labelled_by="drift-weeks-table",
        scale=threshold * 2,
        threshold=threshold,
        threshold_text=f"PSI {threshold:g}",
    )
    labels = {f["feature"]: _label(page, "feature", f["feature"]) for f in body.get("features", [])}
    flagged_labels = [labels.get(key, key) for key in body.get("flagged", [])]
    return render_page(
        "supervision/drift.html",
        page=page,
        body=body,
        chart=chart,
        labels=labels,
        flagged_labels=flagged_labels,
    )


@bp.get("/<name>/<version>/omgoerelser")
@staff_required(*AUDITORS)
def rates(name: str, version: str) -> str:
    page = services.rates_page(request_session(), name, version)
    chart = charts.line_chart(
        [charts.Point(w.week, w.override_rate) for w in page.weeks],
        chart_id="override-chart",
        labelled_by="override-weeks-table",
        scale=1.0,
    )
    return render_page("supervision/rates.html", page=page, chart=chart)

"""What the supervision pages show, read from the stored reports and aggregates.

Plain typed functions taking the session (no Flask globals); they only read, and return
plain data, so the page renders after the unit of work is closed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.errors import NotFound
from portal.registry.models import ModelVersion
from portal.supervision import rates
from portal.supervision.chain import latest_chain_check
from portal.supervision.models import ChainCheck, SupervisionReport


@dataclass(frozen=True)
class ModelRef:
    id: int
    name: str
    version: str
    status: str
    title: dict[str, str]
    labels: dict[str, dict[str, str]]  # feature key -> label per language
    features: dict[str, dict[str, Any]]  # feature key -> its manifest entry (group labels)


@dataclass(frozen=True)
class ModelSummary:
    model: ModelRef
    fairness_flagged: list[str]
    drift_flagged: list[str]
    computed_at: dt.datetime | None


@dataclass(frozen=True)
class Overview:
    models: list[ModelSummary]
    chain: ChainCheck | None
    requests: list[rates.AgeBucket]


def _ref(model: ModelVersion) -> ModelRef:
    manifest = model.manifest
    return ModelRef(
        id=model.id,
        name=model.name,
        version=model.version,
        status=model.status,
        title=dict(manifest.get("title", {})),
        labels={f["key"]: dict(f.get("label", {})) for f in manifest.get("features", [])},
        features={f["key"]: dict(f) for f in manifest.get("features", [])},
    )


def _reports(session: Session, model_ids: list[int]) -> dict[tuple[int, str], SupervisionReport]:
    if not model_ids:
        return {}
    rows = session.scalars(
        select(SupervisionReport).where(SupervisionReport.model_version_id.in_(model_ids))
    ).all()
    return {(r.model_version_id, r.kind): r for r in rows}


def overview(session: Session, *, now: dt.datetime, response_days: int) -> Overview:
    """Every model version that is or was in use, with what its reports flag; the audit
    chain's last verification; the open citizen requests by age."""
    models = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.status.in_(("active", "retired")))
        .order_by(ModelVersion.name, ModelVersion.registered_at.desc())
    ).all()
    reports = _reports(session, [m.id for m in models])
    summaries = []
    for model in models:
        fairness = reports.get((model.id, "fairness"))
        drift = reports.get((model.id, "drift"))
        summaries.append(
            ModelSummary(
                model=_ref(model),
                fairness_flagged=list(fairness.body.get("flagged", [])) if fairness else [],
                drift_flagged=list(drift.body.get("flagged", [])) if drift else [],
                computed_at=fairness.computed_at if fairness else None,
            )
        )
    chain = latest_chain_check(session)
    if chain is not None:
        session.expunge(chain)
    return Overview(
        models=summaries,
        chain=chain,
        requests=rates.open_requests(session, now=now, response_days=response_days),
    )


def _model(session: Session, name: str, version: str) -> ModelVersion:
    model = session.scalar(
        select(ModelVersion).where(ModelVersion.name == name, ModelVersion.version == version)
    )
    if model is None or model.status not in ("active", "retired"):
        raise NotFound()
    return model


@dataclass(frozen=True)
class ReportPage:
    model: ModelRef
    body: dict[str, Any] | None  # None: the aggregation job has not run for it yet
    computed_at: dt.datetime | None


def report_page(session: Session, name: str, version: str, kind: str) -> ReportPage:
    """A model version's stored fairness or drift report (404 for an unknown version)."""
    model = _model(session, name, version)
    report = _reports(session, [model.id]).get((model.id, kind))
    return ReportPage(
        model=_ref(model),
        body=report.body if report else None,
        computed_at=report.computed_at if report else None,
    )


@dataclass(frozen=True)
class RatesPage:
    model: ModelRef
    rows: list[rates.RateRow]
    weeks: list[rates.RateRow]


def rates_page(session: Session, name: str, version: str) -> RatesPage:
    """A model version's override and review rates per unit and week."""
    model = _model(session, name, version)
    rows = rates.rate_rows(session, model.id)
    return RatesPage(model=_ref(model), rows=rows, weeks=rates.weekly_totals(rows))

"""Reading the model registry for the public algorithm register.

One register entry per public model version (active or retired), with the fields of the
Dutch algorithm register's publication standard and the UK Algorithmic Transparency
Recording Standard (docs/register.md maps them). The same entries feed the HTML pages and
the JSON (``/algoritmer.json``), so the two never disagree. Texts stay per language
(``{"da": ..., "en": ...}``): the JSON carries every language, the pages pick one.

The live figures (decisions, share overridden by a person, open citizen requests, the
first decision's time) are four aggregate queries for all versions on a page,
never a query per version or a scan of personal data.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.decisions.models import Decision
from portal.errors import NotFound
from portal.registry.models import ModelVersion

PUBLIC_STATUSES = ("active", "retired")
#: Citizen requests that still wait for an answer.
OPEN_REQUEST_STATUSES = ("received", "in-progress")


def public_models(session: Session) -> Sequence[ModelVersion]:
    """Every model version the public may read about: active first, then retired."""
    rows = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.status.in_(PUBLIC_STATUSES))
        .order_by(ModelVersion.name, ModelVersion.registered_at.desc(), ModelVersion.id.desc())
    ).all()
    return sorted(rows, key=lambda m: (m.status != "active", m.name))


def model_versions(session: Session, name: str) -> Sequence[ModelVersion]:
    """All public versions of one model, newest first; NotFound if none is public."""
    rows = session.scalars(
        select(ModelVersion)
        .where(ModelVersion.name == name, ModelVersion.status.in_(PUBLIC_STATUSES))
        .order_by(ModelVersion.registered_at.desc(), ModelVersion.id.desc())
    ).all()
    if not rows:
        raise NotFound()
    return rows


@dataclass(frozen=True)
class LiveFigures:
    """What a model version has been used for so far."""

    decisions: int = 0
    overridden: int = 0
    open_requests: int = 0
    first_decision_at: dt.datetime | None = None
    last_decision_at: dt.datetime | None = None

    @property
    def override_share(self) -> float | None:
        """Share of the decisions where the person deciding did not follow the model."""
        return None if not self.decisions else self.overridden / self.decisions


def live_figures(session: Session, version_ids: Iterable[int]) -> dict[int, LiveFigures]:
    """The live figures of each version in ``version_ids`` (four queries)."""
    ids = sorted(set(version_ids))
    if not ids:
        return {}
    # the count from the index on model_version_id; first and last are an index seek each
    first = (
        select(func.min(Decision.decided_at))
        .where(Decision.model_version_id == ModelVersion.id)
        .scalar_subquery()
    )
    last = (
        select(func.max(Decision.decided_at))
        .where(Decision.model_version_id == ModelVersion.id)
        .scalar_subquery()
    )
    counts: dict[int, int] = {
        version_id: count
        for version_id, count in session.execute(
            select(Decision.model_version_id, func.count())
            .where(Decision.model_version_id.in_(ids))
            .group_by(Decision.model_version_id)
        )
    }
    decisions = session.execute(
        select(ModelVersion.id, first, last).where(ModelVersion.id.in_(ids))
    ).all()
    # the overridden ones from the partial index ix_decision_overridden (a minority)
    overridden: dict[int, int] = {
        version_id: count
        for version_id, count in session.execute(
            select(Decision.model_version_id, func.count())
            .where(Decision.model_version_id.in_(ids), Decision.followed_model.is_(False))
            .group_by(Decision.model_version_id)
        )
    }
    # from the (few) open requests to their decisions, never from the versions' decisions
    # (a join lets SQLite's planner walk the decisions instead)
    waiting = session.scalars(
        select(CitizenRequest.decision_id).where(CitizenRequest.status.in_(OPEN_REQUEST_STATUSES))
    ).all()
    requests: dict[int, int] = {}
    for chunk in range(0, len(waiting), 500):
        for version_id in session.scalars(
            select(Decision.model_version_id).where(Decision.id.in_(waiting[chunk : chunk + 500]))
        ):
            requests[version_id] = requests.get(version_id, 0) + 1
    figures = {i: LiveFigures(open_requests=int(requests.get(i, 0))) for i in ids}
    for version_id, first_at, last_at in decisions:
        figures[version_id] = LiveFigures(
            decisions=int(counts.get(version_id, 0)),
            overridden=int(overridden.get(version_id, 0)),
            open_requests=int(requests.get(version_id, 0)),
            first_decision_at=first_at,
            last_decision_at=last_at,
        )
    return figures


class FiguresCache:
    """Live figures kept per process for a few seconds (``PORTAL_REGISTER_FIGURES_SECONDS``):
    counting a version's decisions reads its whole index range, ~0.2 s per 1,000,000
    decisions on SQLite, too much for every view of a public page. Thread-safe."""

    MAX_ENTRIES = 256

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._entries: dict[tuple[int, ...], tuple[float, dict[int, LiveFigures]]] = {}

    def get(
        self, session: Session, version_ids: Iterable[int], seconds: float
    ) -> dict[int, LiveFigures]:
        key = tuple(sorted(set(version_ids)))
        if seconds <= 0:
            return live_figures(session, key)
        now = time.monotonic()
        with self._lock:
            hit = self._entries.get(key)
        if hit is not None and now - hit[0] < seconds:
            return hit[1]
        figures = live_figures(session, key)
        with self._lock:
            if len(self._entries) >= self.MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (now, figures)
        return figures

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


#: The web app's cache (the views pass it in; tests clear it).
FIGURES = FiguresCache()


def _texts(value: Any) -> dict[str, str] | None:
    if not isinstance(value, Mapping):
        return None
    return {str(k): str(v) for k, v in value.items() if isinstance(v, str)}


def _time(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def _group_label(feature: Mapping[str, Any] | None, group: Any) -> dict[str, str]:
    labels = (feature or {}).get("category_labels") or {}
    return _texts(labels.get(group)) or {"da": str(group)}


def _data_used(manifest: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The features grouped by consideration, in manifest order, with sources and flags."""
    groups = []
    for consideration in manifest.get("considerations") or ():
        features = [
            {
                "key": f["key"],
                "label": _texts(f.get("label")),
                "source": _texts(f.get("source")),
                "sensitive": bool(f.get("sensitive", False)),
                "special_category": bool(f.get("special_category", False)),
                "legal_basis": _texts(f.get("legal_basis")),
            }
            for f in manifest.get("features") or ()
            if f.get("consideration") == consideration.get("key")
        ]
        groups.append(
            {
                "key": consideration["key"],
                "label": _texts(consideration.get("label")),
                "legal_basis": _texts(consideration.get("legal_basis")),
                "features": features,
            }
        )
    return groups


def _metrics(card: Mapping[str, Any]) -> dict[str, float | int | str]:
    metrics = card.get("metrics")
    if not isinstance(metrics, Mapping):
        return {}
    return {
        str(k): v
        for k, v in metrics.items()
        if isinstance(v, int | float | str) and not isinstance(v, bool)
    }


def _fairness(manifest: Mapping[str, Any], card: Mapping[str, Any]) -> dict[str, Any] | None:
    fairness = card.get("fairness")
    if not isinstance(fairness, Mapping) or not fairness.get("by_feature"):
        return None
    features = {f.get("key"): f for f in manifest.get("features") or ()}
    by_feature = []
    for item in fairness["by_feature"]:
        feature = features.get(item.get("feature"))
        by_feature.append(
            {
                "feature": item.get("feature"),
                "label": _texts((feature or {}).get("label")) or {"da": str(item.get("feature"))},
                "max_selection_rate_gap": item.get("max_selection_rate_gap"),
                "groups": [
                    {
                        "group": str(g.get("group")),
                        "label": _group_label(feature, g.get("group")),
                        **{
                            k: g.get(k)
                            for k in ("n", "selection_rate", "observed_rate", "mean_output", "auc")
                        },
                    }
                    for g in item.get("groups") or ()
                ],
            }
        )
    return {
        "evaluated_on": fairness.get("evaluated_on"),
        "threshold": fairness.get("threshold"),
        "description": _texts(fairness.get("description")),
        "by_feature": by_feature,
    }


def _contact(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    contact = manifest.get("contact")
    if isinstance(contact, Mapping):
        return {
            "email": contact.get("email"),
            "phone": contact.get("phone"),
            "name": _texts(contact.get("name")),
            "text": None,
        }
    card = manifest.get("model_card") or {}
    if isinstance(card.get("contact"), str):  # older manifests: one line in the model card
        return {"email": None, "phone": None, "name": None, "text": card["contact"]}
    return None


def _risk_class(manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    risk = manifest.get("risk_class")
    if not isinstance(risk, Mapping):
        return None
    return {
        "ai_act": risk.get("ai_act"),
        "annex_iii": risk.get("annex_iii"),
        "explanation": _texts(risk.get("explanation")),
    }


def register_entry(version: ModelVersion, figures: LiveFigures) -> dict[str, Any]:
    """One version's register entry (JSON-safe; the schema is ``portal.registry.schema``)."""
    m: Mapping[str, Any] = version.manifest
    card: Mapping[str, Any] = m.get("model_card") or {}
    output: Mapping[str, Any] = m.get("output") or {}
    share = figures.override_share
    return {
        "name": version.name,
        "version": version.version,
        "status": version.status,
        "title": _texts(m.get("title")),
        "description": _texts(m.get("description")),
        "purpose": _texts(m.get("purpose")),
        "legal_basis": _texts(m.get("legal_basis")),
        "special_category_legal_basis": _texts(m.get("special_category_legal_basis")),
        "responsible_unit": version.responsible_unit,
        "contact": _contact(m),
        "human_oversight": _texts(m.get("human_oversight")),
        "risk_class": _risk_class(m),
        "output": {
            "kind": output.get("kind"),
            "label": _texts(output.get("label")),
            "threshold": output.get("threshold"),
        },
        "data": _data_used(m),
        "model_card": {
            "training_data": _texts(card.get("training_data")),
            "metrics": _metrics(card),
            "fairness": _fairness(m, card),
            "dpia_reference": card.get("dpia_reference")
            if isinstance(card.get("dpia_reference"), str)
            else None,
        },
        "retention_days": m.get("retention_days"),
        "dates": {
            "registered_at": _time(version.registered_at),
            "activated_at": _time(version.activated_at),
            "first_decision_at": _time(figures.first_decision_at),
            "retired_at": _time(version.retired_at),
        },
        "figures": {
            "decisions": figures.decisions,
            "overridden": figures.overridden,
            "override_share": None if share is None else round(share, 4),
            "open_requests": figures.open_requests,
        },
    }


def register_entries(
    session: Session,
    versions: Sequence[ModelVersion],
    cache: FiguresCache | None = None,
    seconds: float = 0,
) -> list[dict[str, Any]]:
    """The register entries of ``versions``, in their order, with their live figures (from
    ``cache`` if they are at most ``seconds`` old)."""
    ids = [v.id for v in versions]
    figures = cache.get(session, ids, seconds) if cache else live_figures(session, ids)
    return [register_entry(v, figures.get(v.id, LiveFigures())) for v in versions]


def register(
    session: Session, cache: FiguresCache | None = None, seconds: float = 0
) -> list[dict[str, Any]]:
    """The whole public register: every active and retired version."""
    return register_entries(session, public_models(session), cache, seconds)


def model_register(
    session: Session, name: str, cache: FiguresCache | None = None, seconds: float = 0
) -> list[dict[str, Any]]:
    """The register entries of one model's public versions, newest first (NotFound if none)."""
    return register_entries(session, model_versions(session, name), cache, seconds)

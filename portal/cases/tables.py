"""The citizen's requests and "who has seen my data" as table rows.

Like ``portal.cases.presentation``: no database access, plain data for the templates, texts in
the current locale.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from portal.cases import language as lang
from portal.cases import services, subject_access
from portal.i18n import localized


def request_rows(
    requests: Any, detail: services.CaseDetail | None = None, *, response_days: int = 30
) -> list[dict[str, Any]]:
    """The citizen's requests as table rows (labels translated, data point named, and the
    date by which the municipality answers at the latest)."""
    labels: dict[str, str] = {}
    if detail is not None:
        labels = {f["key"]: localized(f.get("label")) for f in detail.manifest["features"]}
    rows = []
    for r in requests:
        if detail is None:
            features = r.decision.model_version.manifest["features"]
            labels = {f["key"]: localized(f.get("label")) for f in features}
        rows.append(
            {
                "id": r.public_id,
                "kind": r.kind,
                "created_at": r.created_at,
                "answer_by": services.answer_by(r, response_days),
                "open": r.status in ("received", "in-progress"),
                "kind_label": lang.label_for(lang.REQUEST_KIND_LABELS, r.kind),
                "status": r.status,
                "status_label": lang.label_for(lang.REQUEST_STATUS_LABELS, r.status),
                "data_point": labels.get(r.feature_key or "", ""),
                "message": r.message,
                "answer": r.answer,
            }
        )
    return rows


def access_rows(
    events: Any, cases: Mapping[str, tuple[dict[str, Any], str]] | None = None
) -> list[dict[str, Any]]:
    """Audit events as rows of "who has seen my data": role and unit (or the sending
    system's name), never a person's name; the case by its title and case number
    (``cases``: public id -> (title texts, case reference))."""
    cases = cases or {}
    rows = []
    for event in events:
        entry = subject_access.access_entry(event)
        title, reference = cases.get(entry["case"] or "", ({}, ""))
        rows.append(
            {
                "occurred_at": event.occurred_at,
                "who": lang.label_for(lang.ROLE_LABELS, entry["role"]),
                "unit": entry["unit"] or entry.get("system") or "",
                "what": lang.label_for(lang.ACTION_LABELS, entry["action"]),
                "why": lang.label_for(lang.PURPOSE_LABELS, entry["purpose"]),
                "case": entry["case"] or "",
                "case_title": localized(title),
                "case_reference": reference,
            }
        )
    return rows

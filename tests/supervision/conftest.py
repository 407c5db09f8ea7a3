"""Fixtures for the supervision tests: a model version with sensitive features and a
background, and decisions made to order (biased or not, drifted or not)."""

from __future__ import annotations

import copy
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session

from portal.registry.models import ModelVersion
from portal.supervision import aggregates, model_context

FAIR_MANIFEST: dict[str, Any] = {
    "name": "tilsynstest",
    "version": "1",
    "title": {"da": "Tilsynstestmodel", "en": "Supervision test model"},
    "purpose": {"da": "Til test.", "en": "For tests."},
    "legal_basis": {"da": "Ingen."},
    "responsible_unit": "Testforvaltningen",
    "human_oversight": {"da": "En sagsbehandler beslutter."},
    "output": {
        "kind": "probability",
        "positive_class": 1,
        "threshold": 0.5,
        "label": {"da": "Risiko"},
    },
    "considerations": [{"key": "arbejde", "label": {"da": "Arbejde"}}],
    "features": [
        {
            "key": "ledighed_uger",
            "type": "number",
            "label": {"da": "Uger som ledig", "en": "Weeks unemployed"},
            "source": {"da": "STAR"},
            "consideration": "arbejde",
            "min": 0,
            "max": 520,
        },
        {
            "key": "koen",
            "type": "category",
            "label": {"da": "Køn", "en": "Gender"},
            "source": {"da": "CPR"},
            "consideration": "arbejde",
            "sensitive": True,
            "categories": ["k", "m"],
            "category_labels": {"k": {"da": "Kvinde", "en": "Woman"}, "m": {"da": "Mand"}},
        },
    ],
}
BACKGROUND = "ledighed_uger,koen\n" + "".join(
    f"{week},{'k' if week % 2 else 'm'}\n" for week in range(0, 100)
)
WHEN = dt.datetime(2026, 5, 18, 10, tzinfo=dt.UTC)  # a Monday, ISO week 2026-W21


@pytest.fixture(autouse=True)
def _fresh_contexts() -> Iterator[None]:
    """Model ids are reused after a rolled-back test: forget what the job cached."""
    model_context._CONTEXTS.clear()
    yield
    model_context._CONTEXTS.clear()


@pytest.fixture
def fair_model(session: Session, model_version_factory: Callable[..., Any]) -> ModelVersion:
    model = model_version_factory(session, copy.deepcopy(FAIR_MANIFEST))
    model.files.background = BACKGROUND.encode()
    session.flush()
    return model


@pytest.fixture
def decide(
    session: Session,
    decision_factory: Callable[..., Any],
    fair_model: ModelVersion,
    system_factory: Callable[..., Any],
):
    """``decide(n, koen=..., output=..., weeks=..., **fields)``: n decisions of the model."""
    system = system_factory(session, name="tilsynssystem")

    def make(
        n: int,
        *,
        koen: str = "k",
        output: float = 0.5,
        weeks: float | Callable[[int], float] = 30,
        at: dt.datetime = WHEN,
        monitoring: dict[str, Any] | None = None,
        **fields: Any,
    ) -> list[Any]:
        made = []
        for i in range(n):
            value = weeks(i) if callable(weeks) else weeks
            made.append(
                decision_factory(
                    session,
                    system=system,
                    model_version=fair_model,
                    features={"ledighed_uger": value, "koen": koen},
                    reported_output=output,
                    decided_at=at,
                    received_at=at,
                    monitoring=monitoring,
                    **fields,
                )
            )
        return made

    return make


@pytest.fixture
def aggregate(session: Session) -> Callable[..., aggregates.RoundResult]:
    """One round of the aggregation job in the test's session (nothing left to settle)."""

    def run(**options: Any) -> aggregates.RoundResult:
        options.setdefault("settle_seconds", 0)
        return aggregates.aggregate_pending(session, min_group_size=30, **options)

    return run

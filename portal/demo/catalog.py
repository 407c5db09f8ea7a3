"""Fictional demo citizens and the decision webhook bodies the seed command posts.

CPR numbers are valid dates (the 1st of a month, with a correct century digit) but
are chosen so they do *not* pass the old modulus 11 check; together with the
"Demo-borger" names this marks them as fictional.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any

import numpy as np

from portal.decisions.cpr import birth_date, century_digits, passes_modulus_11
from portal.demo.manifests import BYGGESAG, LEDIGHED, category_label
from portal.demo.picking import (
    NEAR_THRESHOLD,
    OVERRIDDEN,
    SENSITIVE,
    TYPICAL,
    background_rows,
    pick_row,
    population,
)
from portal.demo.synthetic import Row

if TYPE_CHECKING:
    from portal.demo.training import DemoModel


@dataclass(frozen=True)
class DemoCase:
    """One case a demo citizen has: which model and which kind of example it shows."""

    model: str
    scenario: str


@dataclass(frozen=True)
class DemoCitizen:
    """A fictional citizen for the demo login."""

    cpr: str
    name: str
    birth_date: date
    cases: tuple[DemoCase, ...]


def demo_citizens() -> list[DemoCitizen]:
    """The fictional citizens offered by the demo login (one of them has no cases)."""
    return [
        DemoCitizen(
            cpr="0105852468",
            name="Demo-borger Anne Jensen",
            birth_date=date(1985, 5, 1),
            cases=(DemoCase(LEDIGHED, NEAR_THRESHOLD), DemoCase(BYGGESAG, TYPICAL)),
        ),
        DemoCitizen(
            cpr="0103601235",
            name="Demo-borger Jonas Nielsen",
            birth_date=date(1960, 3, 1),
            cases=(DemoCase(LEDIGHED, SENSITIVE),),
        ),
        DemoCitizen(
            cpr="0109993124",
            name="Demo-borger Fatima Larsen",
            birth_date=date(1999, 9, 1),
            cases=(DemoCase(LEDIGHED, OVERRIDDEN),),
        ),
        DemoCitizen(
            cpr="0106721355",
            name="Demo-borger Peter Sørensen",
            birth_date=date(1972, 6, 1),
            cases=(
                DemoCase(BYGGESAG, NEAR_THRESHOLD),
                DemoCase(BYGGESAG, TYPICAL),
                DemoCase(BYGGESAG, OVERRIDDEN),
            ),
        ),
        DemoCitizen(
            cpr="0102034011",
            name="Demo-borger Lars Holm",
            birth_date=date(2003, 2, 1),
            cases=(DemoCase(LEDIGHED, TYPICAL),),
        ),
        DemoCitizen(
            cpr="0111902462",
            name="Demo-borger Mette Poulsen",
            birth_date=date(1990, 11, 1),
            cases=(),
        ),
    ]


# --------------------------------------------------------------------------- CPR


def cpr_birth_date(cpr: str) -> date:
    """Birth date of a CPR number: the portal's one century rule (``portal.decisions.cpr``)."""
    return birth_date(cpr)


def _fictional_cpr(rng: np.random.Generator, birth: date, taken: set[str]) -> str:
    first_digits = century_digits(birth.year)
    if not first_digits:  # pragma: no cover - demo birth years are 1950-2008
        raise ValueError(f"no century digit for {birth.year}")
    while True:
        serial = int(rng.choice(first_digits)) * 1000 + int(rng.integers(0, 1000))
        cpr = f"{birth:%d%m%y}{serial:04d}"
        if not passes_modulus_11(cpr) and cpr not in taken:
            taken.add(cpr)
            return cpr


def age_on(birth: date, day: date) -> int:
    return day.year - birth.year - ((day.month, day.day) < (birth.month, birth.day))


# --------------------------------------------------------------------------- texts

_LEDIGHED_TITLE = {"da": "Tilbud om jobrettet indsats", "en": "Offer of job-focused support"}
_LEDIGHED_OUTCOMES = {
    True: {
        "da": "Du får tilbudt et forløb med en fast jobkonsulent. Vi holder en samtale "
        "med dig hver anden uge.",
        "en": "You are offered a programme with a dedicated job consultant. We will "
        "meet with you every two weeks.",
    },
    False: {
        "da": "Du fortsætter med de almindelige jobsamtaler. Du får ikke et ekstra forløb lige nu.",
        "en": "You continue with the regular job interviews. You are not offered an "
        "extra programme at this time.",
    },
}
_BYGGESAG_OUTCOMES = {
    True: {
        "da": "Vi har bedt dig om at sende flere dokumenter, før vi kan behandle din ansøgning.",
        "en": "We have asked you to send more documents before we can process your application.",
    },
    False: {
        "da": "Din ansøgning er sendt videre til behandling. Vi mangler ikke flere "
        "dokumenter lige nu.",
        "en": "Your application has been passed on for processing. We do not need more "
        "documents at this time.",
    },
}
# Why a caseworker did not follow the unemployment model (keyed by what the model advised).
# The building model's overrides carry no reason: their page points to the decision letter.
_LEDIGHED_OVERRIDE_REASONS = {
    True: {
        "da": "Du har fået tilbudt et job, som starter om to uger. Derfor er et forløb med en "
        "jobkonsulent ikke nødvendigt nu.",
        "en": "You have been offered a job that starts in two weeks. So a programme with a job "
        "consultant is not needed now.",
    },
    False: {
        "da": "Du har selv bedt om hjælp til at finde job, og du har en plan, vi gerne vil "
        "støtte. Derfor får du et forløb med en jobkonsulent.",
        "en": "You asked for help to find a job yourself, and you have a plan we want to "
        "support. So you are offered a programme with a job consultant.",
    },
}

_JOBCENTER_TEAMS = (
    "Jobcenter København, Team Nord",
    "Jobcenter København, Team Syd",
    "Jobcenter København, Team Vest",
    "Jobcenter København, Team Amager",
)


def _case_title(model: str, row: Row) -> dict[str, str]:
    if model == LEDIGHED:
        return dict(_LEDIGHED_TITLE)
    da, en = (
        category_label(BYGGESAG, "byggeri_type", row["byggeri_type"], lang) for lang in ("da", "en")
    )
    return {
        "da": f"Ansøgning om byggetilladelse: {da.lower()}",
        "en": f"Application for a building permit: {en.lower()}",
    }


def _decided_by(model: str, row: Row, rng: np.random.Generator) -> str:
    if model == LEDIGHED:
        return _JOBCENTER_TEAMS[int(rng.integers(len(_JOBCENTER_TEAMS)))]
    if row["byggeri_type"] in ("erhverv", "etagebolig"):
        return "Center for Bygninger, Team Erhverv og Etageboliger"
    return "Center for Bygninger, Team Boliger"


# --------------------------------------------------------------------------- decisions


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _decision_time(rng: np.random.Generator, now: datetime, max_days: int) -> datetime:
    day = now - timedelta(days=int(rng.integers(1, max_days)))
    moment = day.replace(hour=int(rng.integers(8, 16)), minute=int(rng.integers(0, 60)))
    moment = moment.replace(second=0, microsecond=0)
    return moment if moment < now else now - timedelta(hours=1)


def _data_sources(
    model: DemoModel, decided_at: datetime, rng: np.random.Generator
) -> dict[str, dict[str, str]]:
    """One fetch time per source register, shared by the features read from it."""
    fetched: dict[str, str] = {}
    out = {}
    for feature in model.manifest["features"]:
        source = feature["source"]["da"]
        if source not in fetched:
            if source.startswith("Byg og Miljø"):
                # Read from the application itself, submitted a few weeks earlier.
                delta = timedelta(days=int(rng.integers(10, 40)), hours=int(rng.integers(1, 9)))
            else:
                delta = timedelta(hours=int(rng.integers(2, 72)))
            fetched[source] = _iso(decided_at - delta)
        out[feature["key"]] = {"fetched_at": fetched[source]}
    return out


def _body(
    model: DemoModel,
    cpr: str,
    row: Row,
    output: float,
    followed: bool,
    decided_at: datetime,
    reference: str,
    rng: np.random.Generator,
) -> dict[str, Any]:
    model_says_positive = output >= model.threshold
    positive_outcome = model_says_positive if followed else not model_says_positive
    outcomes = _LEDIGHED_OUTCOMES if model.name == LEDIGHED else _BYGGESAG_OUTCOMES
    decision: dict[str, Any] = {
        "outcome": dict(outcomes[positive_outcome]),
        "decided_by": _decided_by(model.name, row, rng),
        "human_decided": True,
        "followed_model": followed,
        "decided_at": _iso(decided_at),
    }
    if not followed and model.name == LEDIGHED:
        decision["reason"] = dict(_LEDIGHED_OVERRIDE_REASONS[model_says_positive])
    return {
        "model": {"name": model.name, "version": model.version},
        "case": {"reference": reference, "title": _case_title(model.name, row)},
        "subject": {"cpr": cpr},
        "features": dict(row),
        "data_sources": _data_sources(model, decided_at, rng),
        "model_output": float(output),
        "decision": decision,
    }


_OTHERS = {LEDIGHED: 30, BYGGESAG: 16}
_OTHER_OVERRIDE_RATE = 0.12


def demo_decisions(
    models: Sequence[DemoModel],
    citizens: Sequence[DemoCitizen],
    seed: int = 2026,
    now: datetime | None = None,
) -> list[dict[str, Any]]:
    """Decision webhook bodies (DESIGN.md contract), sorted by ``decided_at``.

    Demo citizens get the cases listed on them; further decisions belong to other
    fictional citizens so the fairness dashboards have data. ``model_output`` is the
    model's own probability for exactly the features sent. ``now`` must be timezone
    aware; it defaults to the current time, so pass it for reproducible output.
    """
    if now is None:
        now = datetime.now(UTC).replace(second=0, microsecond=0)
    if now.tzinfo is None:
        raise ValueError("now must be timezone aware")
    now = now.astimezone(UTC)
    by_name: Mapping[str, DemoModel] = {m.name: m for m in models}
    rng = np.random.default_rng(np.random.SeedSequence([seed, 3]))
    taken_cprs = {c.cpr for c in citizens}
    taken_refs: set[str] = set()
    backgrounds = {name: background_rows(m) for name, m in by_name.items()}

    def reference(decided_at: datetime) -> str:
        while True:
            ref = f"{decided_at.year}-{int(rng.integers(100_000, 10_000_000)):07d}"
            if ref not in taken_refs:
                taken_refs.add(ref)
                return ref

    bodies = []
    for citizen in citizens:
        for case in citizen.cases:
            model = by_name[case.model]
            decided_at = _decision_time(rng, now, 90)
            age = age_on(citizen.birth_date, decided_at.date()) if model.name == LEDIGHED else None
            row = pick_row(model, case.scenario, rng, age, backgrounds[model.name])
            output = float(model.predict_positive([row])[0])
            followed = case.scenario != OVERRIDDEN
            bodies.append(
                _body(
                    model,
                    citizen.cpr,
                    row,
                    output,
                    followed,
                    decided_at,
                    reference(decided_at),
                    rng,
                )
            )

    for name, count in _OTHERS.items():
        if name not in by_name:
            continue
        model = by_name[name]
        rows = population(name, rng, count)
        for row in rows:
            decided_at = _decision_time(rng, now, 180)
            if name == LEDIGHED:
                month = int(rng.integers(1, 13))
                before_birthday = (decided_at.month, decided_at.day) < (month, 1)
                birth = date(decided_at.year - row["alder"] - before_birthday, month, 1)
            else:
                birth = date(int(rng.integers(1950, 2001)), int(rng.integers(1, 13)), 1)
            cpr = _fictional_cpr(rng, birth, taken_cprs)
            output = float(model.predict_positive([row])[0])
            followed = bool(rng.random() >= _OTHER_OVERRIDE_RATE)
            bodies.append(
                _body(model, cpr, row, output, followed, decided_at, reference(decided_at), rng)
            )

    bodies.sort(key=lambda b: (b["decision"]["decided_at"], b["case"]["reference"]))
    return bodies

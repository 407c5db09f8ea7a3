"""Override and review rates per model version, deciding unit and ISO week (from the
aggregation job's rate cells), and the citizens' open requests by age against their
deadline (``request_response_days``; a small table, counted on the page)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass
from itertools import pairwise

from sqlalchemy import select
from sqlalchemy.orm import Session

from portal.cases.models import CitizenRequest
from portal.supervision.models import RateCell

OPEN_STATUSES = ("received", "in-progress")


@dataclass(frozen=True)
class RateRow:
    unit: str
    week: str
    decisions: int
    overridden: int
    human_decided: int
    reviews: int

    @property
    def override_rate(self) -> float:
        return self.overridden / self.decisions if self.decisions else 0.0

    @property
    def human_rate(self) -> float:
        return self.human_decided / self.decisions if self.decisions else 0.0

    @property
    def review_rate(self) -> float:
        return self.reviews / self.decisions if self.decisions else 0.0


def rate_rows(session: Session, model_version_id: int) -> list[RateRow]:
    """Per deciding unit and week, newest week first."""
    cells = session.scalars(
        select(RateCell)
        .where(RateCell.model_version_id == model_version_id)
        .order_by(RateCell.week.desc(), RateCell.unit)
    ).all()
    return [
        RateRow(c.unit, c.week, c.decisions, c.overridden, c.human_decided, c.reviews)
        for c in cells
    ]


def weekly_totals(rows: list[RateRow]) -> list[RateRow]:
    """All units together, per week, oldest first (for the chart)."""
    sums: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for row in rows:
        s = sums[row.week]
        s[0] += row.decisions
        s[1] += row.overridden
        s[2] += row.human_decided
        s[3] += row.reviews
    return [RateRow("", week, *sums[week]) for week in sorted(sums)]


@dataclass(frozen=True)
class AgeBucket:
    """Open requests received between ``low`` and ``high`` days ago (``high`` None: more)."""

    low: int
    high: int | None
    reviews: int
    rectifications: int
    overdue: bool  # the whole bucket is past the deadline


def open_requests(session: Session, *, now: dt.datetime, response_days: int) -> list[AgeBucket]:
    """The open requests by age: weeks up to the deadline, then everything past it."""
    rows = session.execute(
        select(CitizenRequest.kind, CitizenRequest.created_at).where(
            CitizenRequest.status.in_(OPEN_STATUSES)
        )
    ).all()
    edges = [e for e in (0, 7, 14, 21) if e <= response_days]
    buckets: list[tuple[int, int]] = [(lo, hi - 1) for lo, hi in pairwise(edges)]
    buckets.append((edges[-1], response_days))
    counts: dict[tuple[int, int], list[int]] = {b: [0, 0] for b in buckets}
    late: list[int] = [0, 0]
    for kind, created_at in rows:
        age = (now - created_at).days
        index = 0 if kind == "human-review" else 1
        if age > response_days:
            late[index] += 1
            continue
        for low, high in buckets:
            if low <= age <= high:
                counts[(low, high)][index] += 1
                break
    out = [AgeBucket(lo, hi, c[0], c[1], False) for (lo, hi), c in counts.items()]
    out.append(AgeBucket(response_days + 1, None, late[0], late[1], True))
    return out

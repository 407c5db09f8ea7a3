"""Idempotency: each key a system sends is one ``delivery`` row, unique per system forever.

Every decision has an idempotency key: the ``webhook-id`` of a single decision, or the
``id`` of a batch item (both share one namespace; the ``webhook-id`` of a batch request is
in it too). Its ``Delivery`` row holds a hash of the JSON content and the first answer; the
decision carries the same key (unique on system + delivery_key). A repeated key with the
same JSON content gets the first answer again (200); with other content, a 409
``webhook-id-reused`` and an audit event. Concurrent repeats race on the unique constraint:
a key is *claimed* by inserting its delivery with ``ON CONFLICT DO NOTHING``, so the loser
simply gets no row back and answers as a repeat (on PostgreSQL it first waits for the
winner's transaction).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from sqlalchemy import Insert, Table, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from portal.canonical import canonical_json
from portal.decisions.models import Delivery
from portal.oversight.audit import Actor, PendingEvent, record_events

DELIVERY = cast(Table, Delivery.__table__)


class Sender(Protocol):
    """The sending system as the services need it (a ``System`` row or the API's ``Caller``)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


@dataclass
class Answer:
    """An HTTP answer decided by a service, plus the jobs to nudge once it is committed."""

    status: int
    body: dict[str, Any]
    new_jobs: list[int] = field(default_factory=list)


def system_actor(system: Sender) -> Actor:
    return Actor(kind="system", ref=system.name, role="sender")


def content_hash(value: Any) -> str:
    """sha256 of canonical JSON: "the same body" means the same JSON value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def error_body(
    code: str, message: str, details: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def stored_delivery(session: Session, system_id: int, key: str) -> Delivery | None:
    return session.scalar(
        select(Delivery).where(Delivery.system_id == system_id, Delivery.webhook_id == key)
    )


def stored_deliveries(session: Session, system_id: int, keys: Iterable[str]) -> dict[str, Delivery]:
    """The deliveries of ``keys`` stored already, by key (read in chunks of 500 keys)."""
    ordered = sorted(keys)
    found: dict[str, Delivery] = {}
    for start in range(0, len(ordered), 500):
        chunk = ordered[start : start + 500]
        for delivery in session.scalars(
            select(Delivery).where(Delivery.system_id == system_id, Delivery.webhook_id.in_(chunk))
        ):
            found[delivery.webhook_id] = delivery
    return found


_CLAIMS: dict[str, Insert] = {}


def _claim_statement(dialect: str) -> Insert:
    if dialect not in _CLAIMS:
        make = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
        _CLAIMS[dialect] = (
            make(DELIVERY)
            .on_conflict_do_nothing(index_elements=["system_id", "webhook_id"])
            .returning(DELIVERY.c.webhook_id)
        )
    return _CLAIMS[dialect]


def claim_deliveries(session: Session, rows: Sequence[dict[str, Any]]) -> set[str]:
    """Insert the delivery ``rows`` (see ``rows.delivery_row``) whose key is not stored yet,
    in one statement; returns the keys inserted (the others were taken, racing or not).

    Callers give the rows in key order, so two requests sharing keys lock them in the same
    order on PostgreSQL.
    """
    if not rows:
        return set()
    statement = _claim_statement(session.get_bind().dialect.name)
    return set(session.scalars(statement, list(rows)).all())


def reused_event(system: Sender, key: str, kind: str) -> PendingEvent:
    return PendingEvent(
        system_actor(system),
        "delivery.id-reused",
        purpose="integrity",
        details={"webhook_id": key, "kind": kind},
    )


def reused_error() -> dict[str, Any]:
    return error_body(
        "webhook-id-reused",
        "This id was used before with a different body; ids are unique per system forever.",
    )


def repeat(session: Session, system: Sender, existing: Delivery, digest: str, kind: str) -> Answer:
    """The answer to a key seen before: the first answer (200), or a 409 (audited)."""
    if existing.body_sha256 == digest:
        return Answer(200, existing.response)
    record_events(session, [reused_event(system, existing.webhook_id, kind)])
    return Answer(409, reused_error())

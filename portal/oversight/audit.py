"""Writing and verifying the tamper-evident audit trail.

Requests append events as plain rows: no chain head is read and no lock is taken, so a
request never waits for another request's events. A page view (a read-only unit of work,
``portal.db.begin_read_only``) hands its events to the commit point, which appends them
after the view's reads have ended. The sealer (``portal.oversight.sealer``, in the worker)
then puts the events into one order and hash-chains them: each event gets a seal row with
its place (``seq``) and ``entry_hash`` = sha256(previous hash + the event's canonical
content), and each sealing round a signed checkpoint of the chain's head.

``verify_chain`` recomputes the whole chain. An edited event, a deleted event or seal, two
swapped events and an event slipped in between break a link; removing the newest events
(with their seals) leaves the chain shorter than a checkpoint; rewriting every hash after
a change leaves a checkpoint's head hash unmatched. Events not sealed yet are counted.

After retention pruning (``portal.retention.audit``) the chain starts at seal ``n + 1``:
its anchor is the stored checkpoint of ``n`` events, whose head must be the first seal's
``prev_hash``, whose signature must hold, and which must be older than the audit retention
period (so events can only be pruned once they may be). Checkpoints of fewer events are
about pruned events and are skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

from sqlalchemy import Select, Table, exists, func, insert, select, tuple_
from sqlalchemy.orm import Session

from portal.canonical import canonical_json
from portal.config_checks import MIN_AUDIT_RETENTION_DAYS
from portal.db import after_reads, is_read_only, utcnow
from portal.oversight.checkpoints import Checkpoint
from portal.oversight.models import AuditCheckpoint, AuditEvent, AuditSeal

GENESIS = "0" * 64
_QUEUE = "portal.audit_queue"


@dataclass(frozen=True)
class Actor:
    """Who acted. ``ref`` is opaque (staff id, system name, "self"); never a name or CPR."""

    kind: str  # citizen | staff | system | public | worker | admin
    ref: str
    role: str


WORKER = Actor(kind="worker", ref="explanation-worker", role="worker")

#: The hashed columns of an event, in the order they were always hashed.
CONTENT = (
    "occurred_at",
    "actor_kind",
    "actor_ref",
    "actor_role",
    "action",
    "purpose",
    "decision_public_id",
    "subject_key",
    "details",
)


def _canonical(row: Mapping[str, Any]) -> bytes:
    body = {column: row[column] for column in CONTENT}
    body["occurred_at"] = row["occurred_at"].astimezone(dt.UTC).isoformat()
    return canonical_json(body).encode()


def entry_hash(prev_hash: str, row: Mapping[str, Any]) -> str:
    """The hash of an event (a mapping of ``CONTENT``) chained after ``prev_hash``."""
    return hashlib.sha256(prev_hash.encode() + b"\n" + _canonical(row)).hexdigest()


def event_content(event: Any) -> dict[str, Any]:
    """The hashed content of an ``AuditEvent`` (or of a row with the same attributes)."""
    return {column: getattr(event, column) for column in CONTENT}


@dataclass(frozen=True)
class PendingEvent:
    """One event to append with ``record_events``."""

    actor: Actor
    action: str
    purpose: str
    decision_public_id: str | None = None
    subject_key: str | None = None
    details: dict[str, Any] | None = None


def _row(item: PendingEvent, now: dt.datetime) -> dict[str, Any]:
    return {
        "occurred_at": now,
        "actor_kind": item.actor.kind,
        "actor_ref": item.actor.ref,
        "actor_role": item.actor.role,
        "action": item.action,
        "purpose": item.purpose,
        "decision_public_id": item.decision_public_id,
        "subject_key": item.subject_key,
        "details": item.details or {},
    }


def record_event(
    session: Session,
    actor: Actor,
    action: str,
    *,
    purpose: str,
    decision_public_id: str | None = None,
    subject_key: str | None = None,
    details: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one event (committed with the caller's unit of work). The returned event is
    not attached to the session; it carries its id, except in a page view, whose events
    are inserted at its commit point."""
    pending = PendingEvent(actor, action, purpose, decision_public_id, subject_key, details)
    row = _row(pending, utcnow())
    if _queued(session, [row]):
        return AuditEvent(**row)
    event_id = session.execute(insert(_TABLE).returning(_TABLE.c.id), row).scalar_one()
    return AuditEvent(id=event_id, **row)


def record_events(session: Session, pending: Sequence[PendingEvent]) -> None:
    """Append several events in order with one executemany (no RETURNING: on SQLite an
    ordered RETURNING would insert one row per statement, and nothing needs the ids)."""
    now = utcnow()
    rows = [_row(item, now) for item in pending]
    if rows and not _queued(session, rows):
        session.execute(insert(_TABLE), rows)


def _queued(session: Session, rows: list[dict[str, Any]]) -> bool:
    """In a read-only unit of work, keep ``rows`` for its commit point; True if kept."""
    if not is_read_only(session):
        return False
    if _QUEUE not in session.info:
        session.info[_QUEUE] = []
        after_reads(session, _append_queued)
    session.info[_QUEUE].extend(rows)
    return True


def _append_queued(session: Session) -> None:
    rows = session.info.pop(_QUEUE, [])
    if rows:
        session.execute(insert(_TABLE), rows)


_TABLE = cast(Table, AuditEvent.__table__)


# --- verification --------------------------------------------------------------------------


@dataclass(frozen=True)
class ChainReport:
    """What ``verify_chain`` found. ``ok`` is False on any break; ``problem`` says what,
    ``first_broken_id`` names the event (None when the break is not one event's, e.g. the
    newest events are gone or a checkpoint's signature is bad)."""

    ok: bool
    checked: int  # sealed events whose links were checked
    first_broken_id: int | None = None
    problem: str | None = None
    unsealed: int = 0  # events not sealed yet (the sealer seals them within seconds)
    checkpoints: int = 0  # checkpoints (stored and given) checked against the chain
    uncovered: int = 0  # sealed events after the newest stored checkpoint
    pruned: int = 0  # events before the anchor checkpoint (pruned by retention)
    signatures_checked: bool = False
    notes: list[str] = field(default_factory=list)


class _Break(Exception):
    def __init__(self, problem: str, event_id: int | None = None) -> None:
        super().__init__(problem)
        self.problem = problem
        self.event_id = event_id


def _keyset(session: Session, query: Select[Any], keys: Any, batch_size: int) -> Iterator[Any]:
    """The rows of ``query`` in order of ``keys`` (a column or a tuple), batch by batch."""
    columns = keys if isinstance(keys, tuple) else (keys,)
    last: tuple[Any, ...] | None = None
    while True:
        page = query.order_by(*columns).limit(batch_size)
        if last is not None:
            page = page.where(tuple_(*columns) > tuple_(*last))
        rows = session.execute(page).all()
        if not rows:
            return
        yield from rows
        last = tuple(getattr(rows[-1], c.key) for c in columns)


def _stored_checkpoints(session: Session, batch_size: int) -> Iterator[Checkpoint]:
    query = select(
        AuditCheckpoint.id,
        AuditCheckpoint.sealed_count,
        AuditCheckpoint.head_hash,
        AuditCheckpoint.created_at,
        AuditCheckpoint.signature,
    )
    keys = (AuditCheckpoint.sealed_count, AuditCheckpoint.id)
    for row in _keyset(session, query, keys, batch_size):
        yield Checkpoint(row.sealed_count, row.head_hash, row.created_at, row.signature, row.id)


class _Checkpoints:
    """The stored checkpoints (streamed, by count) and the given ones, met along the chain."""

    def __init__(self, stored: Iterator[Checkpoint], given: Sequence[Checkpoint], key: str | None):
        self._stored = stored
        self._given = sorted(given, key=lambda c: c.sealed)
        self._next_stored = next(stored, None)
        self.key = key
        self.checked = 0
        self.newest_stored = 0

    def _pop_due(self, count: int) -> list[Checkpoint]:
        due = []
        while self._next_stored is not None and self._next_stored.sealed <= count:
            due.append(self._next_stored)
            self.newest_stored = max(self.newest_stored, self._next_stored.sealed)
            self._next_stored = next(self._stored, None)
        while self._given and self._given[0].sealed <= count:
            due.append(self._given.pop(0))
        return due

    def at(self, count: int, head: str) -> bool:
        """Check the checkpoints of ``count`` events against the chain's ``head``; True if
        at least one matched."""
        matched = False
        for checkpoint in self._pop_due(count):
            self.checked += 1
            if self.key is not None and not checkpoint.valid(self.key):
                raise _Break(f"{checkpoint.label()}: bad signature (not made with this key)")
            if checkpoint.sealed < count or checkpoint.head != head:
                raise _Break(
                    f"{checkpoint.label()}: the chain's head after {checkpoint.sealed} events"
                    f" is not {checkpoint.head[:16]}...: sealed events were changed or"
                    " rewritten after the previous matching checkpoint"
                )
            matched = True
        return matched

    def skip_to(self, count: int) -> int:
        """Drop the checkpoints of at most ``count`` events (before the anchor); how many."""
        return len(self._pop_due(count))

    def beyond(self, count: int, last_event_id: int | None) -> None:
        """After the chain's end: any checkpoint left covers events that are gone."""
        left = self._pop_due(2**62)
        if left:
            self.checked += len(left)
            newest = max(left, key=lambda c: c.sealed)
            after = f" after event {last_event_id}" if last_event_id is not None else ""
            raise _Break(
                f"{newest.label()} covers {newest.sealed} sealed events, the chain has only"
                f" {count}: the newest {newest.sealed - count} sealed events{after} were removed"
            )


def verify_chain(
    session: Session,
    batch_size: int = 5000,
    *,
    key: str | None = None,
    checkpoints: Sequence[Checkpoint] = (),
    anchor_older_than: dt.datetime | None = None,
) -> ChainReport:
    """Recompute the whole chain in seal order and check it against the stored checkpoints
    and the given ``checkpoints`` (lines copied from the log); report the first break.

    With ``key`` (``Settings.audit_checkpoint_key``) every checkpoint's signature is checked
    too; without it only that the chain still reaches each checkpoint's count and head.
    A pruned chain's anchor must be older than ``anchor_older_than`` (now minus the audit
    retention period; by default now minus the shortest period allowed).
    """
    if anchor_older_than is None:
        anchor_older_than = utcnow() - dt.timedelta(days=MIN_AUDIT_RETENTION_DAYS)
    marks = _Checkpoints(_stored_checkpoints(session, batch_size), checkpoints, key)
    query = select(
        AuditSeal.seq,
        AuditSeal.event_id,
        AuditSeal.prev_hash,
        AuditSeal.entry_hash,
        AuditEvent.id.label("found_id"),
        *(getattr(AuditEvent, column) for column in CONTENT),
    ).outerjoin(AuditEvent, AuditEvent.id == AuditSeal.event_id)
    prev, count = GENESIS, 0
    last_event_id: int | None = None
    suspect: int | None = None  # the first event after the last matching checkpoint
    anchor: Checkpoint | None = None
    try:
        anchor = _anchor(session, key, anchor_older_than)
        if anchor is not None:
            prev, count = anchor.head, anchor.sealed
            marks.checked += marks.skip_to(count)
        for row in _keyset(session, query, AuditSeal.seq, batch_size):
            if suspect is None:
                suspect = row.event_id
            label = f"event {row.event_id} (seal #{row.seq})"
            if row.seq != count + 1:
                raise _Break(
                    f"seal #{count + 1} is missing: the chain jumps from #{count} to"
                    f" #{row.seq} (sealed events were deleted)",
                    row.event_id,
                )
            if row.found_id is None:
                raise _Break(f"{label} is missing: the row was deleted", row.event_id)
            if row.prev_hash != prev:
                raise _Break(
                    f"{label}: its link to seal #{count} does not match: events were"
                    " inserted, removed or reordered",
                    row.event_id,
                )
            if entry_hash(prev, event_content(row)) != row.entry_hash:
                raise _Break(
                    f"{label}: its content does not match its seal: the row was edited",
                    row.event_id,
                )
            prev, count, last_event_id = row.entry_hash, row.seq, row.event_id
            try:
                if marks.at(count, prev):
                    suspect = None
            except _Break as exc:
                raise _Break(exc.problem, suspect) from None
        marks.at(count, prev)
        marks.beyond(count, last_event_id)
    except _Break as exc:
        return ChainReport(
            ok=False,
            checked=count - (anchor.sealed if anchor is not None else 0),
            first_broken_id=exc.event_id,
            problem=exc.problem,
            unsealed=_unsealed(session),
            checkpoints=marks.checked,
            signatures_checked=key is not None,
        )
    return ChainReport(
        ok=True,
        checked=count - (anchor.sealed if anchor is not None else 0),
        pruned=anchor.sealed if anchor is not None else 0,
        unsealed=_unsealed(session),
        checkpoints=marks.checked,
        uncovered=count - marks.newest_stored,
        signatures_checked=key is not None,
    )


def _anchor(session: Session, key: str | None, older_than: dt.datetime) -> Checkpoint | None:
    """The checkpoint a pruned chain starts from (None when the chain starts at seal 1)."""
    first = session.execute(
        select(AuditSeal.seq, AuditSeal.event_id, AuditSeal.prev_hash)
        .order_by(AuditSeal.seq)
        .limit(1)
    ).first()
    if first is None or first.seq == 1:
        return None
    row = session.execute(
        select(AuditCheckpoint)
        .where(
            AuditCheckpoint.sealed_count == first.seq - 1,
            AuditCheckpoint.head_hash == first.prev_hash,
        )
        .order_by(AuditCheckpoint.id)
        .limit(1)
    ).scalar_one_or_none()
    if row is None:
        raise _Break(
            f"seals #1 to #{first.seq - 1} are missing and no checkpoint of {first.seq - 1}"
            " events anchors the rest (sealed events were deleted)",
            first.event_id,
        )
    anchor = Checkpoint(row.sealed_count, row.head_hash, row.created_at, row.signature, row.id)
    if key is not None and not anchor.valid(key):
        raise _Break(f"{anchor.label()}: bad signature (not made with this key)")
    if anchor.at > older_than:
        raise _Break(
            f"{anchor.label()}: events up to it were removed before the audit retention"
            " period had passed",
            first.event_id,
        )
    return anchor


def _unsealed(session: Session) -> int:
    sealed = exists().where(AuditSeal.event_id == AuditEvent.id)
    return int(session.scalar(select(func.count()).select_from(AuditEvent).where(~sealed)) or 0)

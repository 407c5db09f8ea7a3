"""Receiving decisions: validate, then store delivery + decision + pending job together.

The request's single commit (``portal.db_session``) makes the rows durable at once, before
the 202 is sent; the job row is the outbox the worker reads. Idempotency is described in
``portal.decisions.deliveries``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import update
from sqlalchemy.orm import Session

from portal.canonical import is_text
from portal.crypto import lookup_key
from portal.db import utcnow
from portal.decisions.corrections import already_superseded, supersede_problems
from portal.decisions.deliveries import (
    DELIVERY,
    Answer,
    Sender,
    claim_deliveries,
    content_hash,
    error_body,
    repeat,
    reused_error,
    reused_event,
    stored_deliveries,
    stored_delivery,
)
from portal.decisions.rows import delivery_row
from portal.decisions.schemas import BatchIn, BatchItemIn, DecisionIn
from portal.decisions.storing import NewDecision, new_decision, store_decisions
from portal.decisions.validation import (
    NOT_GRANTED,
    ModelCatalog,
    ModelChoice,
    pydantic_details,
    validate_decision,
)
from portal.errors import Forbidden, ValidationFailed
from portal.oversight.audit import PendingEvent, record_events


class ModelNotGranted(Forbidden):
    """The sending system neither registered the model version nor has been granted it."""

    code = NOT_GRANTED
    message = "This system may not post decisions to this model version."


@dataclass(frozen=True)
class IngestOptions:
    """What the services need from the settings."""

    lookup_key: str
    max_attempts: int = 5


def receive_decision(
    session: Session,
    system: Sender,
    webhook_id: str,
    body: Any,
    options: IngestOptions,
    *,
    now: dt.datetime | None = None,
) -> Answer:
    """Handle one signed decision: 202 new, 200 repeat, 409 reused id, 403 a model version
    the system may not post to, 422 invalid.

    The key is claimed by inserting its delivery (a repeat loses there, racing or not);
    only then are the decision, its job and its audit event inserted.
    """
    now = now or utcnow()
    digest = content_hash(body)
    decision_in, choice, details = validate_decision(ModelCatalog(session, system.id), body)
    if decision_in is not None and decision_in.supersedes is not None:
        details = _supersede_problems(session, system, decision_in, options)
        decision_in = None if details else decision_in
    if decision_in is None or choice is None:
        # A repeat gets its first answer even if the body would not pass today (the model
        # version may have been retired or its grant revoked since), so a refusal is
        # checked for a repeat.
        existing = stored_delivery(session, system.id, webhook_id)
        if existing is not None:
            return repeat(session, system, existing, digest, "decision")
        if choice is not None and not choice.granted:
            raise ModelNotGranted(details=details)
        raise ValidationFailed(details=details)
    new = new_decision(
        system, webhook_id, digest, decision_in, choice, lookup_secret=options.lookup_key, now=now
    )
    if not claim_deliveries(session, [new.delivery]):  # the key is taken: a repeat
        existing = stored_delivery(session, system.id, webhook_id)
        if existing is None:  # taken and gone again: cannot happen (deliveries are kept)
            raise RuntimeError("delivery key conflict without a stored delivery")
        return repeat(session, system, existing, digest, "decision")
    store_decisions(session, system, [new], max_attempts=options.max_attempts)
    record_events(session, [new.event])
    return Answer(202, new.response, [new.job_id])


def _supersede_problems(
    session: Session, system: Sender, decision_in: DecisionIn, options: IngestOptions
) -> list[dict[str, Any]]:
    return supersede_problems(
        session,
        system_id=system.id,
        subject_key=lookup_key(options.lookup_key, decision_in.subject.cpr),
        public_id=str(decision_in.supersedes),
    )


@dataclass
class _Item:
    """One batch item that passed validation, and the first of its id in the batch."""

    index: int
    parsed: DecisionIn
    choice: ModelChoice
    digest: str


def _result(item_id: str | None, index: int) -> dict[str, Any]:
    return {"id": item_id, "index": index, "status": "rejected", "decision": None, "error": None}


def _item_id(item: Any) -> str | None:
    """The id of a batch item, when it is an object with a text id."""
    item_id = item.get("id") if isinstance(item, dict) else None
    return item_id if isinstance(item_id, str) and is_text(item_id) else None


def _refusal(choice: ModelChoice | None, details: list[dict[str, Any]]) -> dict[str, Any]:
    """The error of a batch item that did not pass (an ``ErrorInfo``)."""
    if choice is not None and not choice.granted:
        return error_body(NOT_GRANTED, ModelNotGranted.message, details)["error"]
    return error_body("validation-failed", "The item did not pass validation.", details)["error"]


def receive_batch(
    session: Session,
    system: Sender,
    webhook_id: str,
    body: Any,
    options: IngestOptions,
    *,
    now: dt.datetime | None = None,
) -> Answer:
    """Handle a signed batch: every item answered on its own (accepted, duplicate, rejected).

    Only the envelope (an object with a list of 1 to 1,000 items) can refuse the whole
    batch; an item that is not an object, fails validation or names a model version the
    system may not post to is a rejected item.

    Items are validated first; then the batch's own key and the new items' keys are claimed
    (in key order, so two concurrent batches sharing ids lock them in the same order), and
    the claimed items are stored with a statement per table. An item whose key a concurrent
    request took meanwhile answers as a repeat of that one. One audit event per accepted
    item, appended together.
    """
    now = now or utcnow()
    digest = content_hash(body)
    existing = stored_delivery(session, system.id, webhook_id)
    if existing is not None:
        return repeat(session, system, existing, digest, "batch")
    try:
        envelope = BatchIn.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(details=pydantic_details(exc)) from None

    catalog = ModelCatalog(session, system.id)
    results: list[dict[str, Any]] = []
    items: dict[str, _Item] = {}
    events: list[PendingEvent] = []
    replaced: set[str] = set()  # decisions an accepted item of this batch replaces
    for index, item in enumerate(envelope.items):
        item_id = _item_id(item)
        result = _result(item_id, index)
        results.append(result)
        parsed, choice, details = validate_decision(catalog, item, schema=BatchItemIn)
        if parsed is not None and parsed.supersedes is not None:
            details = _supersede_problems(session, system, parsed, options)
            if not details and item_id not in items and parsed.supersedes in replaced:
                details = already_superseded()  # by an earlier item of this batch
            parsed = None if details else parsed
        if parsed is None or choice is None or item_id is None:
            result["error"] = _refusal(choice, details)
            continue
        item_digest = content_hash({k: v for k, v in item.items() if k != "id"})
        first = items.get(item_id)
        if item_id == webhook_id or (first is not None and first.digest != item_digest):
            events.append(reused_event(system, item_id, "decision"))
            result["error"] = reused_error()["error"]
        elif first is not None:
            result["status"] = "duplicate"  # filled in with the first occurrence's answer
        else:
            items[item_id] = _Item(index, parsed, choice, item_digest)
            if parsed.supersedes is not None:
                replaced.add(parsed.supersedes)

    known = stored_deliveries(session, system.id, items)
    new = [
        new_decision(
            system,
            item_id,
            items[item_id].digest,
            items[item_id].parsed,
            items[item_id].choice,
            lookup_secret=options.lookup_key,
            now=now,
            batch=webhook_id,
        )
        for item_id in sorted(items)
        if item_id not in known
    ]
    batch_row = delivery_row(
        system_id=system.id,
        key=webhook_id,
        kind="batch",
        digest=digest,
        status_code=200,
        response={},
        now=now,
    )
    if not claim_deliveries(session, [batch_row]):  # the same batch, sent concurrently
        existing = stored_delivery(session, system.id, webhook_id)
        if existing is None:
            raise RuntimeError("delivery key conflict without a stored delivery")
        return repeat(session, system, existing, digest, "batch")
    claimed = claim_deliveries(session, [n.delivery for n in new])
    accepted: list[NewDecision] = [n for n in new if n.key in claimed]
    store_decisions(session, system, accepted, max_attempts=options.max_attempts)
    # keys a concurrent request took since they were read: answered as repeats of that one
    known.update(
        stored_deliveries(session, system.id, [n.key for n in new if n.key not in claimed])
    )

    by_key = {n.key: n for n in accepted}
    for item_id in sorted(items):
        item = items[item_id]
        result = results[item.index]
        if item_id in by_key:
            result.update(status="accepted", decision=by_key[item_id].response)
            events.append(by_key[item_id].event)
        elif known[item_id].body_sha256 == item.digest:
            result.update(status="duplicate", decision=known[item_id].response)
        else:
            events.append(reused_event(system, item_id, "decision"))
            result["error"] = reused_error()["error"]

    for result in results:  # in-batch repeats answer like their first occurrence
        if result["status"] == "duplicate" and result["decision"] is None:
            result["decision"] = results[items[result["id"]].index]["decision"]
    record_events(session, events)
    counts = {
        s: sum(1 for r in results if r["status"] == s)
        for s in ("accepted", "duplicate", "rejected")
    }
    answer = {"items": results, "counts": counts}
    session.execute(
        update(DELIVERY)
        .where(DELIVERY.c.system_id == system.id, DELIVERY.c.webhook_id == webhook_id)
        .values(response=answer)
    )
    return Answer(200, answer, [n.job_id for n in accepted])

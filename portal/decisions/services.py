"""Receiving decisions: validate, then store decision + delivery + pending job together.

The request's single commit (``portal.db_session``) makes the three rows durable at once,
before the 202 is sent; the job row is the outbox the worker reads.

Idempotency: every decision has an idempotency key, unique per system forever: the
``webhook-id`` of a single decision, or the ``id`` of a batch item (both share one namespace;
the ``webhook-id`` of a batch request is in it too). Each key is one ``Delivery`` row
(unique on system + key) holding a hash of the JSON content and the first answer; the
decision itself carries the same key (unique on system + delivery_key). A repeated key with
the same JSON content gets the first answer again (200); with other content, a 409
``webhook-id-reused`` and an audit event. Concurrent repeats race on the unique constraint;
the loser rolls back its savepoint and answers as a repeat.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from pydantic import ValidationError
from sqlalchemy import Insert, Table, bindparam, insert, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from portal.api.schemas import BatchIn, BatchItemIn, DecisionIn
from portal.canonical import canonical_json
from portal.crypto import lookup_key
from portal.db import new_public_id, utcnow
from portal.db_driver import DriverStatement, Prepared, driver_for
from portal.decisions.models import Decision, Delivery, Job, pending_job_values
from portal.errors import NotFound, ValidationFailed
from portal.oversight.audit import Actor, PendingEvent, record_event, record_events
from portal.registry.models import ModelVersion

#: Pydantic error types -> our stable detail codes (custom errors keep their own type).
_PYDANTIC_CODES = {
    "missing": "missing-field",
    "extra_forbidden": "unknown-field",
    "model_type": "not-an-object",
    "model_attributes_type": "not-an-object",
    "dict_type": "not-an-object",
    "list_type": "not-a-list",
    "string_type": "wrong-type",
    "bool_type": "wrong-type",
    "float_type": "wrong-type",
    "int_type": "wrong-type",
    "string_too_short": "too-short",
    "string_too_long": "too-long",
    "too_short": "too-few-items",
    "too_long": "too-many-items",
    "string_pattern_mismatch": "invalid-format",
    "timezone_aware": "timezone-required",
}


@dataclass(frozen=True)
class IngestOptions:
    """What the services need from the settings."""

    lookup_key: str
    max_attempts: int = 5


@dataclass
class Answer:
    """An HTTP answer decided by a service, plus the jobs to nudge once it is committed."""

    status: int
    body: dict[str, Any]
    new_jobs: list[int] = field(default_factory=list)


def content_hash(value: Any) -> str:
    """sha256 of canonical JSON: "the same body" means the same JSON value."""
    return hashlib.sha256(canonical_json(value).encode()).hexdigest()


def decision_links(public_id: str) -> dict[str, str]:
    return {"self": f"/api/v1/decisions/{public_id}"}


def _accepted_body(public_id: str) -> dict[str, Any]:
    return {"id": public_id, "status": "pending", "links": decision_links(public_id)}


def _error(code: str, message: str, details: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "details": details or []}}


def system_actor(system: Sender) -> Actor:
    return Actor(kind="system", ref=system.name, role="sender")


def pydantic_details(exc: ValidationError, prefix: str = "") -> list[dict[str, Any]]:
    """Pydantic errors -> ``[{field, code, message}]`` (never the input values: personal data)."""
    out = []
    for err in exc.errors(include_input=False, include_url=False, include_context=False):
        where = ".".join(str(part) for part in err["loc"])
        out.append(
            {
                "field": f"{prefix}{where}" if where else prefix.rstrip(".") or "body",
                "code": _PYDANTIC_CODES.get(err["type"], err["type"].replace("_", "-")),
                "message": err["msg"],
            }
        )
    return out


# --- model versions: cached parsed manifests --------------------------------------------------

# A registered version never changes, so its parsed manifest is cached by id + artifact hash;
# only the (mutable) status is read per request.
_MANIFESTS: dict[tuple[int, str], Any] = {}
_MANIFEST_CACHE_SIZE = 64


_MODEL_ROW = DriverStatement(
    select(ModelVersion.id, ModelVersion.status, ModelVersion.artifact_sha256).where(
        ModelVersion.name == bindparam("name"), ModelVersion.version == bindparam("version")
    )
)


@dataclass(frozen=True)
class ModelChoice:
    id: int
    status: str
    manifest: Any  # explainers.Manifest


class ModelCatalog:
    """Looks up the model versions named by decisions (memoised for one request)."""

    def __init__(self, session: Session) -> None:
        self.session = session
        self._seen: dict[tuple[str, str], ModelChoice | None] = {}

    def get(self, name: str, version: str) -> ModelChoice | None:
        key = (name, version)
        if key not in self._seen:
            self._seen[key] = self._load(name, version)
        return self._seen[key]

    def _load(self, name: str, version: str) -> ModelChoice | None:
        from explainers.manifest import parse_manifest

        row = _MODEL_ROW.first(driver_for(self.session), {"name": name, "version": version})
        if row is None:
            return None
        model_id, status, artifact_sha256 = row
        cache_key = (model_id, artifact_sha256)
        manifest = _MANIFESTS.get(cache_key)
        if manifest is None:
            raw = self.session.scalar(
                select(ModelVersion.manifest).where(ModelVersion.id == model_id)
            )
            manifest = parse_manifest(raw)
            if len(_MANIFESTS) >= _MANIFEST_CACHE_SIZE:
                _MANIFESTS.pop(next(iter(_MANIFESTS)))
            _MANIFESTS[cache_key] = manifest
        return ModelChoice(model_id, status, manifest)


# --- validation -----------------------------------------------------------------------------


def validate_decision(
    catalog: ModelCatalog, obj: Any, *, schema: type[DecisionIn] = DecisionIn, prefix: str = ""
) -> tuple[DecisionIn | None, ModelChoice | None, list[dict[str, Any]]]:
    """Check one decision body; returns (parsed, model, every problem found).

    Problems from the envelope schema, the model lookup, the features (missing, unknown,
    type, range, category) and the data sources are all collected, not just the first.
    """
    from explainers.encoding import row_problems

    details: list[dict[str, Any]] = []
    parsed: DecisionIn | None = None
    try:
        parsed = schema.model_validate(obj)
    except ValidationError as exc:
        details.extend(
            d
            for d in pydantic_details(exc, prefix)
            if not d["field"].startswith(f"{prefix}features.")
        )
    if not isinstance(obj, Mapping):
        return None, None, details
    model_ref, features = obj.get("model"), obj.get("features")
    if not (
        isinstance(model_ref, Mapping)
        and isinstance(model_ref.get("name"), str)
        and isinstance(model_ref.get("version"), str)
    ):
        return None, None, details
    choice = catalog.get(model_ref["name"], model_ref["version"])
    where = f"{prefix}model"
    if choice is None:
        details.append(
            {
                "field": where,
                "code": "unknown-model-version",
                "message": "no registered model has this name and version",
            }
        )
    elif choice.status == "retired":
        details.append(
            {
                "field": where,
                "code": "model-version-retired",
                "message": "this model version is retired and accepts no decisions",
            }
        )
    elif choice.status != "active":
        details.append(
            {
                "field": where,
                "code": "model-version-not-active",
                "message": "this model version is registered but not activated",
            }
        )
    if choice is not None and isinstance(features, Mapping):
        for problem in row_problems(choice.manifest, features, f"{prefix}features."):
            details.append(
                {"field": problem.path, "code": problem.code, "message": problem.message}
            )
        sources = obj.get("data_sources")
        if isinstance(sources, Mapping):
            known = set(choice.manifest.feature_keys)
            for key in sources:
                if key not in known:
                    details.append(
                        {
                            "field": f"{prefix}data_sources.{key}",
                            "code": "unknown-feature",
                            "message": "data source for a feature not in the manifest",
                        }
                    )
    if details:
        return None, choice, details
    return parsed, choice, []


# --- storing --------------------------------------------------------------------------------


class Sender(Protocol):
    """The sending system as the services need it (a ``System`` row or the API's ``Caller``)."""

    @property
    def id(self) -> int: ...

    @property
    def name(self) -> str: ...


def _delivery(session: Session, system_id: int, key: str) -> Delivery | None:
    return session.scalar(
        select(Delivery).where(Delivery.system_id == system_id, Delivery.webhook_id == key)
    )


def _reused_event(system: Sender, key: str, kind: str) -> PendingEvent:
    return PendingEvent(
        system_actor(system),
        "delivery.id-reused",
        purpose="integrity",
        details={"webhook_id": key, "kind": kind},
    )


def _reused_error() -> dict[str, Any]:
    return _error(
        "webhook-id-reused",
        "This id was used before with a different body; ids are unique per system forever.",
    )


def _reused(session: Session, system: Sender, key: str, kind: str) -> dict[str, Any]:
    event = _reused_event(system, key, kind)
    record_event(
        session,
        event.actor,
        event.action,
        purpose=event.purpose,
        details=event.details,
    )
    return _reused_error()


def _repeat(session: Session, system: Sender, existing: Delivery, digest: str, kind: str) -> Answer:
    """The answer to a key seen before: the first answer (200) or a 409."""
    if existing.body_sha256 == digest:
        return Answer(200, existing.response)
    return Answer(409, _reused(session, system, existing.webhook_id, kind))


@dataclass
class _NewDecision:
    """The rows of one accepted decision, built before any insert (ids come back after)."""

    delivery: dict[str, Any]
    decision: dict[str, Any]
    job: dict[str, Any]
    response: dict[str, Any]
    event: PendingEvent
    decision_id: int = 0
    job_id: int = 0


_DELIVERY = cast(Table, Delivery.__table__)
_DECISION = cast(Table, Decision.__table__)
_JOB = cast(Table, Job.__table__)


# Run on the driver (``portal.db_driver``): the single-decision path runs them per request.
_INSERTS = {
    table.name: DriverStatement(insert(table).returning(table.c.id))
    for table in (_DELIVERY, _DECISION, _JOB)
}
_INSERTS_MANY = {
    table.name: DriverStatement(insert(table)) for table in (_DELIVERY, _DECISION, _JOB)
}


def _insert_one(session: Session, table: Table, values: Mapping[str, Any] | Prepared) -> int:
    """Insert one row (every column value given); its new primary key."""
    return int(_INSERTS[table.name].scalar(driver_for(session), values))


def _delivery_claim(dialect: str) -> Insert:
    make = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}[dialect]
    return (
        make(_DELIVERY)
        .on_conflict_do_nothing(index_elements=["system_id", "webhook_id"])
        .returning(_DELIVERY.c.id)
    )


_DELIVERY_CLAIM = DriverStatement(_delivery_claim)


def _claim_delivery(session: Session, values: Mapping[str, Any] | Prepared) -> bool:
    """Insert a delivery unless its (system, key) is stored already; True if inserted.

    ``ON CONFLICT DO NOTHING`` lets a repeat lose without an error, so a single decision
    needs no savepoint. On PostgreSQL a concurrent insert of the same key waits for the
    first transaction, then does nothing if it committed.
    """
    return _DELIVERY_CLAIM.first(driver_for(session), values) is not None


def _new_decision(
    system: Sender,
    key: str,
    digest: str,
    decision_in: DecisionIn,
    choice: ModelChoice,
    options: IngestOptions,
    now: dt.datetime,
    batch: str | None = None,
) -> _NewDecision:
    """The delivery, decision and job rows of one decision, and its audit event.

    The public id is made here, so the delivery's stored answer is known before the insert
    and the rows go in without a flush in between.
    """
    facts = decision_in.decision
    public_id = new_public_id()
    response = _accepted_body(public_id)
    subject_key = lookup_key(options.lookup_key, decision_in.subject.cpr)
    details = {"model": choice.manifest.name, "version": choice.manifest.version}
    if batch is not None:
        details["batch"] = batch
    return _NewDecision(
        delivery={
            "system_id": system.id,
            "webhook_id": key,
            "kind": "decision",
            "body_sha256": digest,
            "status_code": 202,
            "response": response,
            "received_at": now,
        },
        decision={
            "public_id": public_id,
            "system_id": system.id,
            "model_version_id": choice.id,
            "delivery_key": key,
            "case_reference": decision_in.case.reference,
            "case_title": decision_in.case.title,
            "subject_key": subject_key,
            "subject_cpr": decision_in.subject.cpr,
            "features": decision_in.features,
            # one serialisation for the whole field: 6 µs, against 10 µs for one per source
            "data_sources": decision_in.model_dump(mode="json", include={"data_sources"})[
                "data_sources"
            ],
            "reported_output": decision_in.model_output,
            "recomputed_output": None,
            "outcome": facts.outcome,
            "decided_by": facts.decided_by,
            "human_decided": facts.human_decided,
            "followed_model": facts.followed_model,
            "decided_at": facts.decided_at.astimezone(dt.UTC),
            "received_at": now,
            "status": "pending",
            "status_reason": None,
            "delete_after": None,
            "output_mismatch": False,
        },
        job=pending_job_values(
            "explain", system_id=system.id, max_attempts=options.max_attempts, now=now
        ),
        response=response,
        event=PendingEvent(
            system_actor(system),
            "decision.received",
            purpose="ingest",
            decision_public_id=public_id,
            subject_key=subject_key,
            details=details,
        ),
    )


@dataclass(frozen=True)
class _PreparedMany:
    """The delivery and decision rows of several new decisions, converted ahead (the
    decision rows' four encrypted columns are most of an insert's cost)."""

    deliveries: Prepared
    decisions: Prepared


def _prepare_many(session: Session, new: Sequence[_NewDecision]) -> _PreparedMany:
    dialect = session.get_bind().dialect
    return _PreparedMany(
        _INSERTS_MANY[_DELIVERY.name].prepare(dialect, [n.delivery for n in new]),
        _INSERTS_MANY[_DECISION.name].prepare(dialect, [n.decision for n in new]),
    )


def _insert(
    session: Session, new: Sequence[_NewDecision], prepared: _PreparedMany | None = None
) -> None:
    """Insert the deliveries, decisions and jobs of ``new`` (in this order, a statement each).

    The delivery rows go first: a concurrent repeat of a key blocks on (PostgreSQL) or
    fails at (either) their unique constraint. Core statements, no unit-of-work flush.
    ``prepared`` (several rows): their delivery and decision rows, converted before the
    write phase began.
    """
    driver = driver_for(session)
    if len(new) == 1:
        _INSERTS_MANY[_DELIVERY.name].execute_many(driver, [new[0].delivery])
        new[0].decision_id = _insert_one(session, _DECISION, new[0].decision)
        new[0].job_id = _insert_one(
            session, _JOB, {**new[0].job, "decision_id": new[0].decision_id}
        )
        return
    prepared = prepared or _prepare_many(session, new)
    _INSERTS_MANY[_DELIVERY.name].execute_many(driver, prepared.deliveries)
    # Plain executemany, then the new ids by unique keys: on SQLite an insert with ordered
    # RETURNING would run one statement per row.
    _INSERTS_MANY[_DECISION.name].execute_many(driver, prepared.decisions)
    connection = session.connection()
    decision_ids = dict(
        connection.execute(
            select(_DECISION.c.public_id, _DECISION.c.id).where(
                _DECISION.c.public_id.in_([n.decision["public_id"] for n in new])
            )
        ).all()
    )
    for n in new:
        n.decision_id = decision_ids[n.decision["public_id"]]
    _INSERTS_MANY[_JOB.name].execute_many(
        driver, [{**n.job, "decision_id": n.decision_id} for n in new]
    )
    job_ids = dict(
        connection.execute(
            select(_JOB.c.decision_id, _JOB.c.id).where(
                _JOB.c.decision_id.in_([n.decision_id for n in new]), _JOB.c.kind == "explain"
            )
        ).all()
    )
    for n in new:
        n.job_id = job_ids[n.decision_id]


def receive_decision(
    session: Session,
    system: Sender,
    webhook_id: str,
    body: Any,
    options: IngestOptions,
    *,
    now: dt.datetime | None = None,
) -> Answer:
    """Handle one signed decision: 202 new, 200 repeat, 409 reused id, 422 invalid.

    Reads (model lookup, validation) come first; on SQLite they may run in the request's
    read phase, which ``begin_write_phase`` ends before the first write. A new key is
    claimed by inserting its delivery (a repeat loses there, racing or not); only then are
    the decision, its job and its audit event inserted: one statement each.
    """
    now = now or utcnow()
    digest = content_hash(body)
    decision_in, choice, details = validate_decision(ModelCatalog(session), body)
    if decision_in is None or choice is None:
        # A repeat gets its first answer even if the body would not pass today (the model
        # version may have been retired since), so a refusal is checked for a repeat.
        existing = _delivery(session, system.id, webhook_id)
        if existing is not None:
            return _repeat(session, system, existing, digest, "decision")
        raise ValidationFailed(details=details)
    new = _new_decision(system, webhook_id, digest, decision_in, choice, options, now)
    # converted before the write phase, so the write lock is held only for the statements
    dialect = session.get_bind().dialect
    delivery = _DELIVERY_CLAIM.prepare(dialect, [new.delivery])
    decision = _INSERTS[_DECISION.name].prepare(dialect, [new.decision])
    if not _claim_delivery(session, delivery):  # the key is taken: a repeat
        existing = _delivery(session, system.id, webhook_id)
        if existing is None:  # taken and gone again: cannot happen (deliveries are kept)
            raise RuntimeError("delivery key conflict without a stored delivery")
        return _repeat(session, system, existing, digest, "decision")
    new.decision_id = _insert_one(session, _DECISION, decision)
    new.job_id = _insert_one(session, _JOB, {**new.job, "decision_id": new.decision_id})
    record_events(session, [new.event])
    return Answer(202, new.response, [new.job_id])


def _chunks(items: Sequence[str], size: int = 500) -> Iterable[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


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

    Items are validated first (reads only), then the new ones are inserted in id order (so
    two concurrent batches sharing ids take their locks in the same order) with one
    statement per table inside one savepoint; only if that meets a conflicting key (a
    concurrent repeat) are they inserted again one savepoint each, so a bad or conflicting
    item never loses the good ones. One audit event per accepted item, appended together.
    """
    now = now or utcnow()
    digest = content_hash(body)
    existing = _delivery(session, system.id, webhook_id)
    if existing is not None:
        return _repeat(session, system, existing, digest, "batch")
    try:
        envelope = BatchIn.model_validate(body)
    except ValidationError as exc:
        raise ValidationFailed(details=pydantic_details(exc)) from None

    catalog = ModelCatalog(session)
    results: list[dict[str, Any]] = []
    to_insert: dict[str, tuple[int, DecisionIn, ModelChoice, str]] = {}
    first_of: dict[str, tuple[int, str]] = {}
    events: list[PendingEvent] = []
    for index, item in enumerate(envelope.items):
        item_id = item.get("id") if isinstance(item.get("id"), str) else None
        result: dict[str, Any] = {
            "id": item_id,
            "index": index,
            "status": "rejected",
            "decision": None,
            "error": None,
        }
        results.append(result)
        parsed, choice, details = validate_decision(catalog, item, schema=BatchItemIn)
        if parsed is None or choice is None or item_id is None:
            result["error"] = _error(
                "validation-failed", "The item did not pass validation.", details
            )["error"]
            continue
        item_digest = content_hash({k: v for k, v in item.items() if k != "id"})
        if item_id == webhook_id or (item_id in first_of and first_of[item_id][1] != item_digest):
            events.append(_reused_event(system, item_id, "decision"))
            result["error"] = _reused_error()["error"]
            continue
        if item_id in first_of:
            result["status"] = "duplicate"  # filled in with the first occurrence's answer
            continue
        first_of[item_id] = (index, item_digest)
        to_insert[item_id] = (index, parsed, choice, item_digest)

    known: dict[str, Delivery] = {}
    for chunk in _chunks(sorted(to_insert)):
        for delivery in session.scalars(
            select(Delivery).where(Delivery.system_id == system.id, Delivery.webhook_id.in_(chunk))
        ):
            known[delivery.webhook_id] = delivery

    new: dict[str, _NewDecision] = {}
    for item_id in sorted(to_insert):
        if item_id not in known:
            _, parsed, choice, item_digest = to_insert[item_id]
            new[item_id] = _new_decision(
                system, item_id, item_digest, parsed, choice, options, now, batch=webhook_id
            )
    # converted before the write phase, so the write lock is held only for the statements
    prepared = _prepare_many(session, list(new.values())) if len(new) > 1 else None

    batch_delivery = {
        "system_id": system.id,
        "webhook_id": webhook_id,
        "kind": "batch",
        "body_sha256": digest,
        "status_code": 200,
        "response": {},
        "received_at": now,
    }
    try:
        with session.begin_nested():
            batch_id = _insert_one(session, _DELIVERY, batch_delivery)
    except IntegrityError:
        existing = _delivery(session, system.id, webhook_id)
        if existing is None:
            raise
        return _repeat(session, system, existing, digest, "batch")

    inserted: list[str] = []
    if new:
        try:
            with session.begin_nested():
                _insert(session, list(new.values()), prepared)
            inserted = list(new)
        except IntegrityError:
            # A concurrent request stored some of these keys: one savepoint per item.
            for item_id, one in new.items():
                try:
                    with session.begin_nested():
                        _insert(session, [one])
                except IntegrityError:
                    previous = _delivery(session, system.id, item_id)
                    if previous is None:
                        raise
                    known[item_id] = previous
                else:
                    inserted.append(item_id)

    new_jobs: list[int] = []
    for item_id in sorted(to_insert):
        index, _, _, item_digest = to_insert[item_id]
        result = results[index]
        if item_id in new and item_id not in known:
            result.update(status="accepted", decision=new[item_id].response)
            new_jobs.append(new[item_id].job_id)
            events.append(new[item_id].event)
            continue
        previous = known[item_id]
        if previous.body_sha256 == item_digest:
            result.update(status="duplicate", decision=previous.response)
        else:
            events.append(_reused_event(system, item_id, "decision"))
            result["error"] = _reused_error()["error"]

    for result in results:  # in-batch repeats answer like their first occurrence
        if result["status"] == "duplicate" and result["decision"] is None:
            result["decision"] = results[first_of[result["id"]][0]]["decision"]
    record_events(session, events)
    counts = {
        s: sum(1 for r in results if r["status"] == s)
        for s in ("accepted", "duplicate", "rejected")
    }
    answer = {"items": results, "counts": counts}
    session.execute(update(_DELIVERY).where(_DELIVERY.c.id == batch_id).values(response=answer))
    return Answer(200, answer, new_jobs)


def decision_status(session: Session, system: Sender, public_id: str) -> dict[str, Any]:
    """Status (and, when ready, the explanation) of a decision the system sent; 404 for
    anyone else's decision, as for one that does not exist."""
    from portal.decisions.explanations import StoredExplanation

    decision = session.scalar(
        select(Decision).where(Decision.public_id == public_id, Decision.system_id == system.id)
    )
    if decision is None:
        raise NotFound("No such decision.")
    model = decision.model_version
    explanation = None
    if decision.status == "ready" and decision.explanation is not None:
        explanation = StoredExplanation.from_row(decision.explanation).to_api()
    return {
        "id": decision.public_id,
        "status": decision.status,
        "reason": decision.status_reason if decision.status == "failed" else None,
        "model": {"name": model.name, "version": model.version},
        "case_reference": decision.case_reference,
        "received_at": decision.received_at.isoformat(),
        "reported_output": decision.reported_output,
        "recomputed_output": decision.recomputed_output,
        "output_mismatch": decision.output_mismatch,
        "explanation": explanation,
        "links": decision_links(decision.public_id),
    }

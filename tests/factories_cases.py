"""Realistic decisions for the citizen pages, built from the demo models.

Used by tests/cases, tests/browser and bench/pages.py.

A decision made here is what the portal would hold after the webhook and the worker: a
``ModelVersion`` row (its ``ModelArtifact`` holding the artifact and background), a
``Decision`` row with encrypted features, and an ``Explanation`` row whose payload the real
``explainers`` package computed (SHAP values and counterfactual), laid out by
``portal.decisions.explanations.build_payload`` like the worker does.

Plain functions (no pytest), so the browser tests and the benchmark can seed a database
file with them too. The expensive parts (training, explaining) are computed once per
process and cached.
"""

from __future__ import annotations

import datetime as dt
import functools
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from portal.crypto import lookup_key
from portal.decisions.explanations import build_payload, new_explanation
from portal.decisions.models import Decision
from portal.registry.models import ModelArtifact, ModelVersion, System

# Demo bodies are generated relative to this moment, so they are the same in every run.
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)


@functools.cache
def demo_models() -> tuple[Any, ...]:
    from portal.demo import build_demo_models

    return tuple(build_demo_models())


@functools.cache
def demo_bundles() -> dict[str, Any]:
    from explainers import ModelBundle

    return {
        m.name: ModelBundle.from_bytes(m.artifact, m.manifest, m.background_csv)
        for m in demo_models()
    }


@functools.cache
def demo_citizens() -> tuple[Any, ...]:
    from portal.demo import demo_citizens as citizens

    return tuple(citizens())


@functools.cache
def demo_bodies() -> tuple[dict[str, Any], ...]:
    """All demo webhook bodies: the demo citizens' cases and other fictional citizens'."""
    from portal.demo import demo_decisions

    return tuple(demo_decisions(list(demo_models()), list(demo_citizens()), now=NOW))


def bodies_of(cpr: str) -> list[dict[str, Any]]:
    return [b for b in demo_bodies() if b["subject"]["cpr"] == cpr]


@functools.cache
def _payload(reference: str) -> dict[str, Any]:
    from explainers import counterfactual, explain_rows

    body = next(b for b in demo_bodies() if b["case"]["reference"] == reference)
    bundle = demo_bundles()[body["model"]["name"]]
    result = explain_rows(bundle, [body["features"]], reported_outputs=[body["model_output"]])[0]
    cf = counterfactual(bundle, body["features"]).to_dict()
    members = {f.key: f.consideration for f in bundle.manifest.features}
    return {"payload": build_payload(result.to_dict(), cf, members), "record": result}


def payload_for(body: Mapping[str, Any]) -> dict[str, Any]:
    """The stored payload for a demo body (computed once per process)."""
    return _payload(body["case"]["reference"])["payload"]


@dataclass
class DemoWorld:
    """The rows every demo decision hangs on."""

    system: System
    versions: dict[str, ModelVersion]


def add_world(session: Session, *, status: str = "active") -> DemoWorld:
    """A system and a model version per demo model (manifest, artifact, background)."""
    system = System(name=f"demo-{secrets.token_hex(4)}", responsible_unit="Demo")
    session.add(system)
    session.flush()
    versions = {}
    for model in demo_models():
        version = ModelVersion(
            name=model.name,
            version=model.version,
            status=status,
            manifest=model.manifest,
            responsible_unit=model.manifest["responsible_unit"],
            artifact_sha256=model.artifact_sha256,
            background_sha256=demo_bundles()[model.name].background_sha256,
            registered_by_system_id=system.id,
            activated_at=NOW,
            files=ModelArtifact(artifact=model.artifact, background=model.background_csv),
        )
        session.add(version)
        versions[model.name] = version
    session.flush()
    return DemoWorld(system, versions)


def _moment(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def add_decision(
    session: Session,
    world: DemoWorld,
    body: Mapping[str, Any],
    *,
    lookup_secret: str,
    status: str = "ready",
    cpr: str | None = None,
) -> Decision:
    """A decision from a webhook body; ``status="ready"`` also stores its explanation."""
    cpr = cpr or body["subject"]["cpr"]
    d = body["decision"]
    decision = Decision(
        system_id=world.system.id,
        model_version_id=world.versions[body["model"]["name"]].id,
        delivery_key=secrets.token_hex(8),
        case_reference=body["case"]["reference"],
        case_title=body["case"]["title"],
        subject_key=lookup_key(lookup_secret, cpr),
        subject_cpr=cpr,
        features=body["features"],
        data_sources=body["data_sources"],
        reported_output=body["model_output"],
        outcome=d["outcome"],
        decided_by=d["decided_by"],
        human_decided=d["human_decided"],
        followed_model=d["followed_model"],
        decision_reason=d.get("reason"),
        decided_at=_moment(d["decided_at"]),
        status=status,
        status_reason="test: failed" if status == "failed" else None,
    )
    session.add(decision)
    session.flush()
    if status == "ready":
        computed = _payload(body["case"]["reference"])
        record = computed["record"]
        payload = computed["payload"]
        session.add(new_explanation(decision.id, payload, record))
        decision.recomputed_output = float(record.presentation.output)
        session.flush()
    return decision


def add_citizen_cases(
    session: Session,
    world: DemoWorld,
    cpr: str,
    *,
    lookup_secret: str,
    statuses: Iterable[str] | None = None,
) -> list[Decision]:
    """All demo cases of one demo citizen (ready unless ``statuses`` says otherwise)."""
    bodies = bodies_of(cpr)
    chosen = list(statuses) if statuses is not None else ["ready"] * len(bodies)
    return [
        add_decision(session, world, body, lookup_secret=lookup_secret, status=status)
        for body, status in zip(bodies, chosen, strict=False)
    ]


def seed_demo_citizens(session: Session, *, lookup_secret: str) -> DemoWorld:
    """Every demo citizen's cases, ready, in one go (browser tests, LIX, benchmark)."""
    world = add_world(session)
    for citizen in demo_citizens():
        add_citizen_cases(session, world, citizen.cpr, lookup_secret=lookup_secret)
    return world


@dataclass(frozen=True)
class SeededDatabase:
    """A database file with every demo citizen's cases, for a separate process or server."""

    url: str
    overrides: dict[str, Any]
    subject_keys: dict[str, str]  # demo citizen's CPR -> subject key
    cases: dict[str, list[str]]  # demo citizen's CPR -> public ids, newest first


def seed_database_file(overrides: Mapping[str, Any]) -> SeededDatabase:
    """Build the schema (migrations) in ``overrides["database_url"]`` and commit every demo
    citizen's cases to it. ``overrides`` are ``create_app`` overrides."""
    from portal import create_app
    from portal.db_session import get_db
    from portal.migrate import upgrade

    app = create_app(dict(overrides))
    database = get_db(app)
    with database.engine.begin() as conn:
        upgrade(conn)
    secret = app.config["SETTINGS"].lookup_key
    with database.transaction() as session:
        world = seed_demo_citizens(session, lookup_secret=secret)
        assert world.system.id
    cases: dict[str, list[str]] = {}
    with database.transaction() as session:
        from sqlalchemy import select

        for citizen in demo_citizens():
            key = lookup_key(secret, citizen.cpr)
            cases[citizen.cpr] = list(
                session.scalars(
                    select(Decision.public_id)
                    .where(Decision.subject_key == key)
                    .order_by(Decision.decided_at.desc())
                )
            )
    database.engine.dispose()
    return SeededDatabase(
        url=str(overrides["database_url"]),
        overrides=dict(overrides),
        subject_keys={c.cpr: lookup_key(secret, c.cpr) for c in demo_citizens()},
        cases=cases,
    )

"""``flask --app wsgi demo seed``: the demo through the signed API, on a committed database."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from portal import create_app
from portal.db import Base
from portal.db_session import get_db

pytestmark = pytest.mark.slow


def table_counts(app) -> dict[str, int]:
    with get_db(app).engine.connect() as conn:
        return {
            table.name: conn.scalar(select(func.count()).select_from(table))
            for table in Base.metadata.sorted_tables
        }


def test_demo_seed_goes_through_the_api_and_a_rerun_adds_nothing(
    app_overrides, committed_database_url
):
    from portal.crypto import lookup_key
    from portal.decisions.dispatch import get_worker
    from portal.decisions.models import Decision, Delivery, Explanation
    from portal.demo import demo_citizens
    from portal.demo.seed import DEMO_SYSTEM
    from portal.migrate import upgrade
    from portal.oversight.audit import verify_chain
    from portal.oversight.models import AuditEvent
    from portal.registry.models import ModelVersion, System

    url = committed_database_url("_seed")
    # the embedded default worker mode: the seed must compute in-process, not via the thread
    app = create_app({**app_overrides, "database_url": url, "worker": "inprocess"})
    db = get_db(app)
    with db.engine.begin() as conn:
        upgrade(conn)

    first = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert first.exit_code == 0, first.output
    with db.transaction() as session:
        decisions = session.scalars(select(Decision)).all()
        n = len(decisions)
        assert n > 0
        assert f"models registered: 2; decisions accepted: {n}, already there: 0" in first.output
        assert f"counterfactual searches): {2 * n}" in first.output  # one of each per decision
        models = session.scalars(select(ModelVersion)).all()
        assert sorted(m.status for m in models) == ["active", "active"]
        demo_system = session.scalar(select(System).where(System.name == DEMO_SYSTEM))
        assert {m.registered_by_system_id for m in models} == {demo_system.id}
        assert {d.status for d in decisions} == {"ready"}
        assert session.scalar(select(func.count()).select_from(Explanation)) == n
        # every decision arrived as a signed delivery of the demo system, and was audited
        assert {d.system.name for d in decisions} == {DEMO_SYSTEM}
        delivered = session.scalars(select(Delivery.webhook_id).where(Delivery.kind == "decision"))
        assert sorted(delivered) == sorted(d.delivery_key for d in decisions)
        received = session.scalars(
            select(AuditEvent.decision_public_id).where(AuditEvent.action == "decision.received")
        ).all()
        assert sorted(received) == sorted(d.public_id for d in decisions)
        # each demo citizen with cases can log in and find them
        keys = {d.subject_key for d in decisions}
        lookup = app.config["SETTINGS"].lookup_key
        for citizen in demo_citizens():
            assert (lookup_key(lookup, citizen.cpr) in keys) == bool(citizen.cases)
    assert get_worker(app)._thread is None  # nothing left for a thread to do
    # what seeding logged is sealed: `audit verify` right after a seed finds no tail
    with db.transaction() as session:
        chain = verify_chain(session, key=app.config["SETTINGS"].audit_checkpoint_key)
    assert (chain.ok, chain.unsealed, chain.checked > 0) == (True, 0, True)

    counts = table_counts(app)
    second = app.test_cli_runner().invoke(args=["demo", "seed"])
    assert second.exit_code == 0, second.output
    assert f"models registered: 0; decisions accepted: 0, already there: {n}" in second.output
    assert "counterfactual searches): 0" in second.output
    assert table_counts(app) == counts
    db.engine.dispose()

"""Every write path lets SQLAlchemy fill in the columns it does not give: the rows of each
table are built in one place (``portal.decisions.rows``) with only what the caller knows,
and Core ``insert()`` applies the models' Python-side ``default=`` to the rest, one row or
many. So a column added later with a default needs no change on any write path: here one
is added to each table for the length of a test (column and DDL, rolled back after)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any, cast

import pytest
from decisions_support import signed_headers
from sqlalchemy import Column, Connection, String, Table, select, text
from sqlalchemy.orm import Session

from portal.db_session import get_db
from portal.decisions.models import Decision, Delivery, Explanation, Job
from portal.decisions.worker import WorkerOptions, run_due
from portal.registry import admin

TABLES = [cast(Table, model.__table__) for model in (Delivery, Decision, Job, Explanation)]
PROBE = "probe_default"


@pytest.fixture
def probe_columns(app: Any, connection: Connection) -> Iterator[None]:
    """A new column with a Python-side default on each table, known to SQLAlchemy and added
    to the test's database inside its rolled-back transaction."""
    engine = get_db(app).engine
    added = []
    for table in TABLES:
        column = Column(PROBE, String(20), default="filled")
        table.append_column(column)
        added.append((table, column))
        connection.execute(text(f"ALTER TABLE {table.name} ADD COLUMN {PROBE} VARCHAR(20)"))
    engine.clear_compiled_cache()  # no statement compiled with the column outlives the test
    try:
        yield
    finally:
        for table, column in added:
            table._columns.remove(column)
        engine.clear_compiled_cache()


def _unfilled(connection: Connection) -> dict[str, list[str]]:
    """Per table, the columns with a default that some stored row has as NULL."""
    out = {}
    for table in TABLES:
        defaulted = [c for c in table.columns if c.default is not None]
        rows = connection.execute(select(*defaulted)).all()
        assert rows, f"no {table.name} row was written"
        missing = [c.name for i, c in enumerate(defaulted) if any(row[i] is None for row in rows)]
        if missing:
            out[table.name] = missing
    return out


def _post(client: Any, secret: str, path: str, body: Any, webhook_id: str) -> Any:
    data = json.dumps(body)
    headers = signed_headers(secret, "defaults-sender", webhook_id, data)
    return client.post(path, data=data.encode(), content_type="application/json", headers=headers)


def test_every_write_path_fills_every_column_default(
    app, client, connection, session: Session, active_models, demo_bodies, probe_columns
) -> None:
    _, secret = admin.create_system(session, "defaults-sender", "Enhed")
    for name in active_models:
        admin.grant_model(session, "defaults-sender", name)
    session.flush()
    # the single-decision webhook (delivery, decision, explain job)
    single = _post(client, secret, "/api/v1/decisions", demo_bodies[0], "defaults-single")
    assert single.status_code == 202, single.get_json()
    # the batch webhook (the batch's delivery; deliveries, decisions, jobs of its items)
    items = [{"id": f"defaults-{n}", **body} for n, body in enumerate(demo_bodies[1:4])]
    batch = _post(client, secret, "/api/v1/decisions/batch", {"items": items}, "defaults-batch")
    assert batch.get_json()["counts"]["accepted"] == 3
    db = get_db(app)
    # the worker: explanation rows, decisions ready, follow-up counterfactual jobs ...
    assert run_due(db, WorkerOptions(searches_per_claim=0)) == 4
    # ... and the searches stored into the explanations
    assert run_due(db, WorkerOptions()) == 4

    assert connection.scalar(select(Job.kind).where(Job.kind == "counterfactual").limit(1))
    assert _unfilled(connection) == {}
    probes = {t.name: connection.scalars(select(t.c[PROBE])).all() for t in TABLES}
    assert all(values and set(values) == {"filled"} for values in probes.values()), probes

"""A webhook is stored at once while the worker builds a large "Mine data" PDF: the worker
holds no connection and no transaction while it renders (both databases)."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import delete, select
from test_api_committed import committed  # noqa: F401  (the committed sender and model)
from test_api_while_pages_render import (  # noqa: F401  (world is a fixture)
    BOUND_SECONDS,
    blocking,
    citizen,
    open_transactions,
    post_webhook,
    world,
)

from portal.cases import exports
from portal.cases.models import PdfExport
from portal.db_session import get_db
from portal.decisions.models import EXPORT_PDF
from portal.decisions.worker import register_job_handler, run_due


@pytest.fixture
def every_pdf_is_large(committed_app, monkeypatch) -> Iterator[None]:
    settings = dataclasses.replace(committed_app.config["SETTINGS"], pdf_worker_decisions=0)
    monkeypatch.setitem(committed_app.config, "SETTINGS", settings)
    register_job_handler(EXPORT_PDF, exports.handler(committed_app))
    yield
    with get_db(committed_app).transaction() as session:
        session.execute(delete(PdfExport))


def test_a_webhook_is_stored_while_the_worker_renders_a_large_pdf(
    committed_app,
    world,  # noqa: F811  (the fixture imported above)
    every_pdf_is_large,
    monkeypatch,
) -> None:
    db = get_db(committed_app)
    postgres = db.engine.dialect.name == "postgresql"

    def probe() -> dict[str, Any]:
        state: dict[str, Any] = {"checked_out": db.engine.pool.checkedout()}
        if postgres:
            state["idle_in_transaction"] = open_transactions(committed_app)
        return state

    asked = citizen(committed_app, world).get("/mine-data.pdf")
    assert asked.status_code == 303
    export_id = asked.headers["Location"].rsplit("/", 1)[1]
    reached, release, seen = blocking(monkeypatch, exports, "render_pdf", probe)
    worker = threading.Thread(target=lambda: run_due(db), daemon=True)
    worker.start()
    try:
        assert reached.wait(30)
        status, seconds = post_webhook(committed_app, world, "during-export")
    finally:
        release.set()
        worker.join(60)
    assert status == 202
    assert seconds < BOUND_SECONDS
    # while it rendered, the worker held no connection, and no transaction was left open
    assert seen["checked_out"] == 0
    if postgres:
        assert seen["idle_in_transaction"] == 0
    with db.reading() as session:
        export = session.scalar(select(PdfExport).where(PdfExport.public_id == export_id))
        assert export is not None
        assert export.status == "ready"
    download = citizen(committed_app, world).get(f"/mine-data/pdf/{export_id}/fil")
    assert download.data.startswith(b"%PDF-")

"""A large "Mine data" PDF is built by the worker: the request queues it and says "we are
preparing your PDF" (a meta refresh, no script), the worker renders it with no transaction
open and stores it encrypted, for its owner only, until it expires."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re

import pytest
from sqlalchemy import func, select
from test_pdf_and_data import last_event, pdf_streams_text

from portal.cases import exports
from portal.cases.models import PdfExport
from portal.crypto import DecryptionError
from portal.db import utcnow
from portal.db_session import get_db
from portal.decisions.models import EXPORT_PDF, Job
from portal.decisions.worker import WorkerOptions, register_job_handler, run_due

PENDING_DA = "Vi er ved at lave din PDF"


@pytest.fixture
def large(app, monkeypatch):
    """More than one decision is "large" (the default is 20)."""
    settings = dataclasses.replace(app.config["SETTINGS"], pdf_worker_decisions=1)
    monkeypatch.setitem(app.config, "SETTINGS", settings)
    register_job_handler(EXPORT_PDF, exports.handler(app))  # (this app's, not the last one's)
    return settings


def export_jobs(session) -> list[Job]:
    return list(session.scalars(select(Job).where(Job.kind == EXPORT_PDF)))


def ask(client) -> str:
    """GET /mine-data.pdf for a large export: the public id of the export it leads to."""
    answer = client.get("/mine-data.pdf")
    assert answer.status_code == 303
    match = re.fullmatch(r"/mine-data/pdf/([\w-]+)", answer.headers["Location"])
    assert match is not None
    return match.group(1)


def test_a_small_pdf_is_made_at_once(client, session, citizens, cases_of, login_citizen):
    cases_of(citizens["anne"])  # two decisions, under the default threshold
    login_citizen(citizens["anne"])
    answer = client.get("/mine-data.pdf")
    assert answer.status_code == 200
    assert answer.data.startswith(b"%PDF-")
    assert export_jobs(session) == []


def test_a_large_pdf_is_queued_and_the_page_says_so(
    app, client, session, citizens, cases_of, login_citizen, large
):
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    export_id = ask(client)
    (job,) = export_jobs(session)
    assert job.status == "pending"
    assert job.decision_id is None
    assert job.system_id is None
    export = session.scalar(select(PdfExport).where(PdfExport.public_id == export_id))
    assert export.status == "pending"
    assert export.job_id == job.id
    assert export.body is None
    page = client.get(f"/mine-data/pdf/{export_id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert PENDING_DA in html
    assert f'<meta http-equiv="refresh" content="{exports.REFRESH_SECONDS}">' in html
    assert "<script" not in html
    assert "private" in page.headers["Cache-Control"] or "no-store" in page.headers["Cache-Control"]
    # asking again (a reload, a second click) reuses the export: one job, not two
    assert ask(client) == export_id
    assert len(export_jobs(session)) == 1


def test_the_worker_builds_it_encrypted_and_only_its_owner_gets_it(
    app, client, session, citizens, cases_of, login_citizen, large
):
    cases_of(citizens["anne"])
    cases_of(citizens["jonas"])
    login_citizen(citizens["anne"])
    export_id = ask(client)
    assert run_due(get_db(app)) == 1
    session.expire_all()
    export = session.scalar(select(PdfExport).where(PdfExport.public_id == export_id))
    assert export.status == "ready"
    assert export.body is not None
    assert not export.body.startswith(b"%PDF")
    assert export.expires_at > utcnow() + dt.timedelta(hours=large.pdf_export_hours - 1)
    assert export_jobs(session)[0].status == "done"
    assert last_event(session, "data.exported").details == {"format": "pdf"}

    html = client.get(f"/mine-data/pdf/{export_id}").get_data(as_text=True)
    assert "Din PDF er klar" in html
    assert "refresh" not in html
    answer = client.get(f"/mine-data/pdf/{export_id}/fil")
    assert answer.status_code == 200
    assert answer.mimetype == "application/pdf"
    assert 'filename="mine-data.pdf"' in answer.headers["Content-Disposition"]
    assert b"/Lang (da)" in pdf_streams_text(answer.data)

    login_citizen(citizens["jonas"])  # another citizen: as if it did not exist
    assert client.get(f"/mine-data/pdf/{export_id}").status_code == 404
    assert client.get(f"/mine-data/pdf/{export_id}/fil").status_code == 404


def test_a_file_copied_to_another_export_does_not_decrypt(
    app, client, session, citizens, cases_of, login_citizen, large
):
    cases_of(citizens["anne"])
    principal = login_citizen(citizens["anne"])
    export_id = ask(client)
    run_due(get_db(app))
    session.expire_all()
    built = session.scalar(select(PdfExport).where(PdfExport.public_id == export_id))
    copy = PdfExport(
        subject_key=built.subject_key,
        locale="da",
        status="ready",
        body=built.body,
        expires_at=built.expires_at,
    )
    session.add(copy)
    session.flush()
    with pytest.raises(DecryptionError):
        exports.export_file(session, principal, copy.public_id)


def test_an_expired_export_is_gone_and_deleted(
    app, client, session, citizens, cases_of, login_citizen, large
):
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    export_id = ask(client)
    run_due(get_db(app))
    later = utcnow() + dt.timedelta(hours=large.pdf_export_hours + 1)
    principal = login_citizen(citizens["anne"])
    with pytest.raises(exports.NotFound):
        exports.own_export(session, principal, export_id, now=later)
    exports.handler(app)(get_db(app), None, WorkerOptions(), later)
    assert session.scalar(select(func.count()).select_from(PdfExport)) == 0


def test_a_failing_build_is_retried_then_marked_failed(
    app, client, session, citizens, cases_of, login_citizen, large, monkeypatch
):
    def broken(_html: str) -> bytes:
        raise RuntimeError("weasyprint fell over")

    monkeypatch.setattr(exports, "render_pdf", broken)
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    export_id = ask(client)
    db = get_db(app)
    options = WorkerOptions(backoff_seconds=0)
    now = utcnow()
    for attempt in range(1, exports.EXPORT_ATTEMPTS + 1):
        assert exports.handler(app)(db, None, options, now + dt.timedelta(minutes=attempt)) == 1
        session.expire_all()
        (job,) = export_jobs(session)
        assert job.attempts == attempt
        assert job.last_error == "RuntimeError"  # the kind, never the text
    assert job.status == "failed"
    page = client.get(f"/mine-data/pdf/{export_id}").get_data(as_text=True)
    assert "Vi kunne ikke lave din PDF" in page
    assert client.get(f"/mine-data/pdf/{export_id}/fil").status_code == 404
    # asking again starts a new export
    assert ask(client) != export_id


def test_a_finished_file_is_reused_until_a_new_decision_arrives(
    app, client, session, citizens, cases_of, login_citizen, large
):
    cases_of(citizens["anne"])
    login_citizen(citizens["anne"])
    export_id = ask(client)
    run_due(get_db(app))
    assert ask(client) == export_id  # ready, and nothing new since
    cases_of(citizens["anne"])  # new decisions: the file no longer holds everything
    assert ask(client) != export_id

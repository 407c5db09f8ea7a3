"""A citizen's "Mine data" PDF: made at once when it is small, by the worker when it is large.

Rendering a PDF of many decisions takes seconds (about 0.1 s a decision); no request does
that. Up to ``Settings.pdf_worker_decisions`` decisions the request renders it, after its
unit of work has ended (no transaction is open while WeasyPrint runs). Above that, the
request only queues an ``export-pdf`` job (at its commit point, after its reads: a page
view stays a read-only unit of work) and sends the citizen to a page that says "we are
preparing your PDF" and reloads itself (a meta refresh, no script). The worker reads the
data in a read-only unit of work, renders with no transaction open, and stores the file
as AES-GCM ciphertext bound to the export's public id, fetchable by its owner only, until
``Settings.pdf_export_hours`` have passed; then it is deleted.

Services take the session and the principal and never read Flask's globals; the worker's
handler renders through the app it was made for (``handler``).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flask import Flask, render_template
from flask_babel import force_locale
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from portal.auth.principal import Principal
from portal.cases import tables
from portal.cases.models import PdfExport
from portal.cases.pdf import render_pdf
from portal.cases.presentation import present_case
from portal.cases.subject_access import DataExport, export_data
from portal.crypto import active_key_ring
from portal.db import (
    Database,
    after_reads,
    begin_read_only,
    commit_unit_of_work,
    is_read_only,
    new_public_id,
    utcnow,
)
from portal.decisions.claiming import any_due_of_kind, claim_kind
from portal.decisions.computing import safe_reason
from portal.decisions.models import EXPORT_PDF, Decision, Job
from portal.decisions.worker import JobHandler, WorkerOptions
from portal.errors import NotFound

log = logging.getLogger(__name__)
#: Attempts before an export is marked failed (each renders the whole PDF).
EXPORT_ATTEMPTS = 3
#: Seconds the "we are preparing your PDF" page waits before it reloads itself.
REFRESH_SECONDS = 5


def _subject_key(principal: Principal) -> str:
    if not principal.is_citizen or not principal.subject_key:
        raise NotFound()
    return principal.subject_key


def _associated_data(public_id: str) -> bytes:
    # The ciphertext names its row: copied to another export it does not decrypt.
    return f"pdf_export.body:{public_id}".encode()


@dataclass(frozen=True)
class Settings:
    """What the export path needs of ``portal.config.Settings``."""

    worker_decisions: int
    hours: int

    @classmethod
    def of(cls, settings: Any) -> Settings:
        return cls(settings.pdf_worker_decisions, settings.pdf_export_hours)


def my_data_pdf(
    session: Session,
    principal: Principal,
    *,
    locale: str,
    settings: Settings,
    now: dt.datetime | None = None,
) -> DataExport | PdfExport:
    """The citizen's data to render now (a small export, logged as ``data.exported``), or
    the export the worker builds for a large one: an unexpired one in the same language,
    pending or made after the newest decision, if there is one; else a new one, queued at
    the unit of work's commit."""
    subject_key = _subject_key(principal)
    now = now or utcnow()
    count, newest = session.execute(
        select(func.count(), func.max(Decision.received_at)).where(
            Decision.subject_key == subject_key
        )
    ).one()
    if (count or 0) <= settings.worker_decisions:
        return export_data(session, principal, fmt="pdf")
    existing = session.scalar(
        select(PdfExport)
        .where(
            PdfExport.subject_key == subject_key,
            PdfExport.locale == locale,
            PdfExport.expires_at > now,
            # a finished file only if no decision arrived after it was made
            (PdfExport.status == "pending")
            | ((PdfExport.status == "ready") & (PdfExport.ready_at >= newest)),
        )
        .order_by(PdfExport.created_at.desc(), PdfExport.id.desc())
        .limit(1)
    )
    if existing is not None:
        return existing
    export = PdfExport(
        public_id=new_public_id(),
        subject_key=subject_key,
        locale=locale,
        status="pending",
        created_at=now,
        expires_at=now + dt.timedelta(hours=settings.hours),
    )

    def queue(write: Session) -> None:
        job = Job(kind=EXPORT_PDF, max_attempts=EXPORT_ATTEMPTS, next_attempt_at=now)
        write.add(job)
        write.flush()
        export.job_id = job.id
        write.add(export)
        write.flush()

    if is_read_only(session):
        after_reads(session, queue)  # a page view: written after its reads, at its commit
    else:
        queue(session)
    return export


def own_export(
    session: Session, principal: Principal, public_id: str, *, now: dt.datetime | None = None
) -> PdfExport:
    """The citizen's unexpired export ``public_id``; NotFound when it is missing, expired
    or someone else's (ownership is part of the query: nothing else is read)."""
    subject_key = _subject_key(principal)
    export = session.scalar(
        select(PdfExport).where(
            PdfExport.public_id == public_id,
            PdfExport.subject_key == subject_key,
            PdfExport.expires_at > (now or utcnow()),
        )
    )
    if export is None:
        raise NotFound()
    return export


def export_file(
    session: Session, principal: Principal, public_id: str, *, now: dt.datetime | None = None
) -> bytes:
    """The finished PDF of the citizen's export; NotFound unless it is theirs and ready."""
    export = own_export(session, principal, public_id, now=now)
    if export.status != "ready" or export.body is None:
        raise NotFound()
    return active_key_ring().decrypt(export.body, _associated_data(export.public_id))


# --------------------------------------------------------------------------- rendering


def my_data_pdf_context(export: DataExport, response_days: int) -> dict[str, Any]:
    """The template context of ``cases/my_data_pdf.html`` (the request and the worker)."""
    return {
        "pages": [present_case(case) for case in export.cases],
        "requests": tables.request_rows(export.requests, response_days=response_days),
        "entries": tables.access_rows(
            export.log,
            {
                c.decision.public_id: (c.decision.case_title, c.decision.case_reference)
                for c in export.cases
            },
        ),
        "now": export.exported_at,
        "pdf": True,
    }


def _render(app: Flask, export: DataExport, locale: str) -> bytes:
    settings = app.config["SETTINGS"]
    with app.test_request_context(base_url=settings.base_url), force_locale(locale):
        html = render_template(
            "cases/my_data_pdf.html",
            **my_data_pdf_context(export, settings.request_response_days),
        )
    return render_pdf(html)


# --------------------------------------------------------------------------- the worker


def purge_expired(session: Session, now: dt.datetime) -> int:
    """Delete exports (and their files) past ``expires_at``."""
    result = session.execute(delete(PdfExport).where(PdfExport.expires_at <= now))
    return int(getattr(result, "rowcount", 0) or 0)


def _read(db: Database, job_id: int) -> tuple[int, str, DataExport] | None:
    """(export id, locale, the citizen's data) in a read-only unit of work (its audit
    event, ``data.exported``, is written after the reads); None if the export is gone."""
    session = db.session_factory()
    try:
        begin_read_only(session)
        export = session.scalar(select(PdfExport).where(PdfExport.job_id == job_id))
        if export is None:
            return None
        principal = Principal("citizen", export.subject_key, None, None, "citizen", None, "")
        data = export_data(session, principal, fmt="pdf")
        found = (export.id, export.locale, data)
        commit_unit_of_work(session)
        return found
    finally:
        session.close()


def build(
    app: Flask, db: Database, job_id: int, options: WorkerOptions, round_at: dt.datetime
) -> None:
    """Build one claimed export: read, render with no transaction open, store encrypted.
    A failure is retried after a back-off counted from the round's time ``round_at``."""
    hours = int(app.config["SETTINGS"].pdf_export_hours)
    try:
        found = _read(db, job_id)
        pdf = None if found is None else _render(app, found[2], found[1])
    except Exception as exc:
        log.warning("PDF export job %s failed: %s", job_id, safe_reason(exc))
        _fail(db, job_id, safe_reason(exc), options, round_at)
        return
    now = utcnow()
    with db.transaction() as session:
        job = session.get(Job, job_id)
        export = None if found is None else session.get(PdfExport, found[0])
        if export is not None and pdf is not None:
            attach_file(export, pdf, now=now, hours=hours)
        if job is not None:
            job.status, job.finished_at, job.locked_until = "done", now, None


def attach_file(export: PdfExport, pdf: bytes, *, now: dt.datetime, hours: int) -> None:
    """Store the finished ``pdf`` in ``export`` (encrypted), downloadable for ``hours``."""
    if export.public_id is None:  # (the column default comes only at the INSERT)
        export.public_id = new_public_id()
    export.body = active_key_ring().encrypt(pdf, _associated_data(export.public_id))
    export.size = len(pdf)
    export.status = "ready"
    export.ready_at = now
    export.expires_at = now + dt.timedelta(hours=hours)


def _fail(db: Database, job_id: int, reason: str, options: WorkerOptions, now: dt.datetime) -> None:
    with db.transaction() as session:
        job = session.get(Job, job_id)
        if job is None:
            return
        job.last_error, job.locked_until = reason, None
        if job.attempts < job.max_attempts:
            delay = min(options.backoff_seconds * 2 ** max(job.attempts - 1, 0), 3600)
            job.status, job.next_attempt_at = "pending", now + dt.timedelta(seconds=delay)
            return
        job.status, job.finished_at = "failed", now
        export = session.scalar(select(PdfExport).where(PdfExport.job_id == job_id))
        if export is not None:
            export.status = "failed"


def handler(app: Flask) -> JobHandler:
    """The worker's round for ``export-pdf`` jobs, rendering with ``app``'s templates: one
    export a round (each takes seconds), after expired exports are deleted."""

    def run(
        db: Database, job_ids: Sequence[int] | None, options: WorkerOptions, now: dt.datetime
    ) -> int:
        # An idle round only reads (no write lock every poll on SQLite).
        with db.reading() as session:
            expired = session.scalar(
                select(PdfExport.id).where(PdfExport.expires_at <= now).limit(1)
            )
            if expired is None and not any_due_of_kind(session, EXPORT_PDF, now, job_ids):
                return 0
        with db.transaction() as session:
            purge_expired(session, now)
            claimed = claim_kind(
                session,
                EXPORT_PDF,
                limit=1,
                lease_seconds=options.lease_seconds,
                now=now,
                job_ids=job_ids,
            )
        for job_id in claimed:
            build(app, db, job_id, options, now)
        return len(claimed)

    return run

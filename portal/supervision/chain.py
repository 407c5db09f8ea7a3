"""The audit chain's status for the dashboard: the same verification as ``flask --app wsgi
audit verify`` (``portal.oversight.audit.verify_chain``), run by the worker every
``supervision_verify_seconds`` (and by ``flask --app wsgi supervision verify``), its result
stored with when it ran, so that a page view never recomputes the chain."""

from __future__ import annotations

import time

from sqlalchemy import select
from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

from portal.db import Database, utcnow
from portal.oversight.audit import verify_chain
from portal.supervision.models import ChainCheck


def record_chain_check(db: Database, key: str) -> ChainCheck:
    """Verify the whole chain (signatures checked with ``key``) in one read snapshot, then
    store the result in a transaction of its own."""
    started = time.perf_counter()
    ran_at = utcnow()
    with db.reading() as session:
        if not db.is_sqlite and isinstance(session.get_bind(), Engine):
            session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        report = verify_chain(session, key=key)
    check = ChainCheck(
        ran_at=ran_at,
        ok=report.ok,
        checked=report.checked,
        unsealed=report.unsealed,
        checkpoints=report.checkpoints,
        first_broken_id=report.first_broken_id,
        problem=report.problem,
        seconds=time.perf_counter() - started,
    )
    with db.transaction() as session:
        session.add(check)
        session.flush()
        session.expunge(check)
    return check


def latest_chain_check(session: Session) -> ChainCheck | None:
    """The newest stored verification, or None when none has run yet."""
    return session.scalars(select(ChainCheck).order_by(ChainCheck.id.desc()).limit(1)).first()

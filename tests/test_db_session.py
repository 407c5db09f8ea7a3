"""The request's unit of work: page views are read-only, and it is committed (and its
session closed) before a page or PDF is rendered."""

from __future__ import annotations

import pytest
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.orm import Session
from sqlalchemy.orm.exc import DetachedInstanceError

from portal.db import WriteInReadOnly
from portal.db_session import (
    UnitOfWorkFinished,
    finish_unit_of_work,
    render_page,
    request_session,
)
from portal.oversight.audit import Actor, record_event
from portal.oversight.models import AuditEvent
from portal.registry.models import ModelVersion, System

VISITOR = Actor(kind="public", ref="-", role="public")


def test_after_the_commit_point_a_lazy_load_fails_and_no_new_session_opens(
    app: Flask, session: Session, model_version_factory
) -> None:
    version_id = model_version_factory(session).id
    session.commit()
    with app.test_request_context("/algoritmer"):
        version = request_session().get(ModelVersion, version_id)
        assert version is not None
        finish_unit_of_work()
        assert version.name == "testmodel"  # loaded before: still there
        with pytest.raises(DetachedInstanceError):
            _ = version.files  # a lazy load while rendering fails loudly
        with pytest.raises(UnitOfWorkFinished):
            request_session()


def test_render_page_commits_first(app: Flask, session: Session) -> None:
    with app.test_request_context("/", method="POST"):
        request_session().add(System(name="stored-before-rendering", responsible_unit="x"))
        html = render_page("main/index.html")
        assert "<html" in html
        assert "db_session" not in __import__("flask").g
    assert session.scalar(select(System.id).where(System.name == "stored-before-rendering"))


def test_a_page_view_may_not_write(app: Flask, connection) -> None:
    with app.test_request_context("/algoritmer"):
        request_session().add(System(name="written-by-a-get", responsible_unit="x"))
        with pytest.raises(WriteInReadOnly):
            request_session().flush()


def test_a_page_views_audit_events_are_stored_at_its_commit_point(
    app: Flask, session: Session
) -> None:
    before = session.scalar(select(func.count()).select_from(AuditEvent))
    with app.test_request_context("/algoritmer"):
        event = record_event(request_session(), VISITOR, "register.viewed", purpose="public")
        assert event.id is None  # kept for the commit point
        assert session.scalar(select(func.count()).select_from(AuditEvent)) == before
        finish_unit_of_work()
    assert session.scalar(select(func.count()).select_from(AuditEvent)) == before + 1


def test_a_post_writes_its_audit_events_at_once(app: Flask, session: Session) -> None:
    with app.test_request_context("/logout", method="POST"):
        event = record_event(request_session(), VISITOR, "x.y", purpose="public")
        assert event.id is not None
        finish_unit_of_work()
    assert session.get(AuditEvent, event.id) is not None

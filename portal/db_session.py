"""The request's database session: one per request, committed in one place.

A view that returns normally has its work committed before the response leaves (so a
202 means the decision is durable); an error handler rolls back. Services never commit.

Page views (GET/HEAD) are read-only units of work (``portal.db.begin_read_only``): on
SQLite they take no lock, and their audit events are written at the commit point, after
their reads. A GET view that really writes (an OpenID Connect callback stores the account)
is marked with :func:`writes`.

No request holds a transaction while it renders: a view that renders calls
:func:`finish_unit_of_work` (``render_page`` does it) before the template or PDF is made;
a view with heavy presentation work calls it as soon as its service has returned.
That is the same single commit point, reached early: the session is committed and closed,
so a template that would lazy-load from the database fails loudly (DetachedInstanceError)
instead of quietly beginning a new transaction, and another ``request_session()`` in the
same request is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from flask import Flask, Response, current_app, g, render_template, request
from sqlalchemy.exc import DBAPIError
from sqlalchemy.exc import TimeoutError as SQLAlchemyTimeoutError
from sqlalchemy.orm import Session

from portal.db import Database, begin_read_only, commit_unit_of_work

_EXTENSION = "portal.db"
_FINISHED = "db_unit_of_work_finished"
_WRITES = "portal_writes"
#: Methods whose requests are read-only units of work (RFC 9110 safe methods).
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})

V = TypeVar("V", bound=Callable[..., Any])
T = TypeVar("T")


class UnitOfWorkFinished(RuntimeError):
    """The request's unit of work was committed before rendering; rendering must not use
    the database (load what the page needs in the view, before ``render_page``)."""


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions[_EXTENSION]  # type: ignore[no-any-return]


def writes(view: V) -> V:
    """Mark a view served by GET that writes: its unit of work is a write transaction from
    the start (BEGIN IMMEDIATE on SQLite), like that of a POST."""
    setattr(view, _WRITES, True)
    return view


def _read_only_request() -> bool:
    if request.method not in SAFE_METHODS:
        return False
    view = current_app.view_functions.get(request.endpoint or "")
    return not getattr(view, _WRITES, False)


def request_session() -> Session:
    """The session of the current request (created on first use)."""
    if "db_session" not in g:
        if g.get(_FINISHED):
            raise UnitOfWorkFinished("the request's unit of work is already committed")
        session = get_db().session_factory()
        if _read_only_request():
            begin_read_only(session)
        g.db_session = session
    return g.db_session  # type: ignore[no-any-return]


def finish_unit_of_work() -> None:
    """Commit the request's work now and close its session (the request's single commit
    point; after it, the request has no transaction and may not open one)."""
    g.setdefault(_FINISHED, True)
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        try:
            commit_unit_of_work(session)
        finally:
            session.close()


def render_page(template: str, **context: Any) -> str:
    """Finish the unit of work, then render ``template``: no transaction is open while the
    page (or the HTML of a PDF, and then the PDF) is made."""
    finish_unit_of_work()
    return render_template(template, **context)


def store_after_render(write: Callable[[Session], T]) -> T:
    """The write half of a view that must render before it can store what it rendered (a
    letter attachment's sha256 exists only once its PDF does). The view's reads ended at
    :func:`finish_unit_of_work`; this runs ``write(session)`` in a short write unit of work
    of its own and commits it (the request's commit point for its writes). If ``write``
    raises, nothing of it is stored."""
    if not g.get(_FINISHED):
        raise RuntimeError("store_after_render follows finish_unit_of_work")
    session = get_db().session_factory()
    try:
        result = write(session)
        commit_unit_of_work(session)
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
    return result


def rollback_request_session() -> None:
    """Roll back and close the request's session, if any. A database that is gone cannot
    roll back either: its connection is dropped (the server ends the transaction), so an
    error page can still be sent."""
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        try:
            session.rollback()
        except (DBAPIError, SQLAlchemyTimeoutError):
            session.invalidate()
        finally:
            session.close()


def init_app(app: Flask, database: Database) -> None:
    app.extensions[_EXTENSION] = database

    @app.after_request
    def _commit(response: Response) -> Response:
        # The single commit point of a request that did not reach it before rendering. A
        # failed commit raises, and the client gets an error instead of a success for work
        # that was not stored.
        finish_unit_of_work()
        return response

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        rollback_request_session()
        # (g belongs to the app context, which requests may share: the CLI's demo seed
        # posts through the test client inside its own app context)
        g.pop(_FINISHED, None)

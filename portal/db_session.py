"""The request's database session: one per request, committed in one place.

A view that returns normally has its work committed before the response leaves (so a
202 means the decision is durable); an error handler rolls back. Services never commit.
"""

from __future__ import annotations

from flask import Flask, Response, current_app, g
from sqlalchemy.orm import Session

from portal.db import Database

_EXTENSION = "portal.db"


def get_db(app: Flask | None = None) -> Database:
    return (app or current_app).extensions[_EXTENSION]  # type: ignore[no-any-return]


def request_session() -> Session:
    """The session of the current request (created on first use)."""
    if "db_session" not in g:
        g.db_session = get_db().session_factory()
    return g.db_session  # type: ignore[no-any-return]


def rollback_request_session() -> None:
    session: Session | None = g.pop("db_session", None)
    if session is not None:
        session.rollback()
        session.close()


def init_app(app: Flask, database: Database) -> None:
    app.extensions[_EXTENSION] = database

    @app.after_request
    def _commit(response: Response) -> Response:
        # The single commit point of a request. A failed commit raises, and the client
        # gets an error instead of a success for work that was not stored.
        session: Session | None = g.pop("db_session", None)
        if session is not None:
            try:
                session.commit()
            finally:
                session.close()
        return response

    @app.teardown_request
    def _close(_exc: BaseException | None) -> None:
        rollback_request_session()

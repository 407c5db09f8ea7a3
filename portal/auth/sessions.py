"""Server-side sessions: the cookie holds only a random token, the data stays on the server.

The store keys each session by the sha256 of its token, so a dump of the store gives no
live cookies. Two backends: the database (``server_session``, data encrypted at rest) by
default, Redis (``settings.session_backend == "redis"``) in production, where the web tier
must be stateless.

A session ends after ``session_idle_minutes`` without a request, and in any case
``session_absolute_hours`` after it was created. ``regenerate()`` gives the session a new
token (at login, so a token planted before login is worthless afterwards); ``destroy()``
deletes it (at logout, so the old cookie no longer works anywhere).

An anonymous visitor with an empty session gets no stored session and no cookie. A form
page stores its CSRF token, so it creates one; that is fine.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from flask import Flask, Request, Response
from flask.sessions import SessionInterface, SessionMixin
from sqlalchemy import delete, update
from werkzeug.datastructures import CallbackDict

from portal.auth.models import ServerSession
from portal.crypto import DecryptionError, active_key_ring, place
from portal.db import utcnow
from portal.db_session import get_db

if TYPE_CHECKING:
    from portal.config import Settings

log = logging.getLogger(__name__)

COOKIE_NAME = "portal_session"
# A ``__Host-`` cookie must be Secure, have Path=/ and no Domain: browsers then refuse to
# let a sibling subdomain plant or overwrite it.
SECURE_COOKIE_NAME = "__Host-portal_session"
_EXTENSION = "portal.auth.sessions"
# last_seen is written back at most this often, so a page view does not always mean a write.
TOUCH_INTERVAL = dt.timedelta(seconds=60)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class StoredSession:
    data: dict[str, Any]
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime


class SessionStore(Protocol):
    """Where sessions live. Keys are sha256 hex digests of the tokens, never the tokens.

    ``create`` stores a session under a new key; ``update`` writes only over a session that
    is still stored, so a request that loaded a session before a logout (or an expiry
    purge) deleted it cannot bring it back when it saves afterwards.
    """

    def load(self, key: str) -> StoredSession | None: ...

    def create(self, key: str, stored: StoredSession) -> None: ...

    def update(self, key: str, stored: StoredSession) -> bool: ...

    def delete(self, key: str) -> None: ...


class DatabaseStore:
    """Sessions in the ``server_session`` table.

    Each read and write is its own short transaction: ``save_session`` runs after the
    request's transaction has been committed and closed, and a session must be stored
    even when the request itself wrote nothing.
    """

    def __init__(self, app: Flask) -> None:
        self._app = app

    def load(self, key: str) -> StoredSession | None:
        # read-only: on SQLite a page view's session lookup takes no lock
        with get_db(self._app).reading() as db:
            row = db.get(ServerSession, key)
            if row is None:
                return None
            return StoredSession(
                data=dict(row.data or {}),
                created_at=row.created_at,
                last_seen_at=row.last_seen_at,
                expires_at=row.expires_at,
            )

    def create(self, key: str, stored: StoredSession) -> None:
        with get_db(self._app).transaction() as db:
            db.add(
                ServerSession(
                    key=key,
                    created_at=stored.created_at,
                    data=stored.data,
                    last_seen_at=stored.last_seen_at,
                    expires_at=stored.expires_at,
                )
            )

    def update(self, key: str, stored: StoredSession) -> bool:
        # One UPDATE ... WHERE key: a row deleted meanwhile stays deleted (no read first,
        # so nothing between a read and the write can resurrect it either).
        with get_db(self._app).transaction() as db:
            # The values are execution parameters, so the encrypted ``data`` is sealed for
            # this row (portal/db.py binds each ciphertext to its table, column and key).
            result = db.execute(
                update(ServerSession)
                .where(ServerSession.key == key)
                .execution_options(synchronize_session=False),
                {
                    "data": stored.data,
                    "last_seen_at": stored.last_seen_at,
                    "expires_at": stored.expires_at,
                },
            )
            return bool(result.rowcount)  # type: ignore[attr-defined]

    def delete(self, key: str) -> None:
        with get_db(self._app).transaction() as db:
            db.execute(delete(ServerSession).where(ServerSession.key == key))

    def purge_expired(self, now: dt.datetime) -> int:
        """Delete sessions past their expiry (a CLI or periodic task calls this)."""
        with get_db(self._app).transaction() as db:
            result = db.execute(delete(ServerSession).where(ServerSession.expires_at <= now))
            return int(result.rowcount or 0)  # type: ignore[attr-defined]


class RedisStore:
    """Sessions in Redis under ``prefix + key``, encrypted, with a TTL at their expiry."""

    def __init__(self, client: Any, prefix: str) -> None:
        self._redis = client
        self._prefix = prefix

    def _place(self, key: str) -> bytes:
        """Each ciphertext is bound to its own Redis key, as database ciphertexts are bound
        to their row: a value copied to another session's key does not open."""
        return place("redis", self._prefix, key)

    def load(self, key: str) -> StoredSession | None:
        raw = self._redis.get(self._prefix + key)
        if raw is None:
            return None
        try:
            value = active_key_ring().decrypt_json(bytes(raw), self._place(key))
        except DecryptionError:
            # Copied from another session's key, or damaged: no session, not someone's.
            log.warning("a Redis session failed to decrypt; treated as logged out")
            return None
        return StoredSession(
            data=value["data"],
            created_at=dt.datetime.fromisoformat(value["created_at"]),
            last_seen_at=dt.datetime.fromisoformat(value["last_seen_at"]),
            expires_at=dt.datetime.fromisoformat(value["expires_at"]),
        )

    def _write(self, key: str, stored: StoredSession, **condition: bool) -> bool:
        ttl = max(1, int((stored.expires_at - utcnow()).total_seconds()) + 1)
        value = {
            "data": stored.data,
            "created_at": stored.created_at.isoformat(),
            "last_seen_at": stored.last_seen_at.isoformat(),
            "expires_at": stored.expires_at.isoformat(),
        }
        ciphertext = active_key_ring().encrypt_json(value, self._place(key))
        return bool(self._redis.set(self._prefix + key, ciphertext, ex=ttl, **condition))

    def create(self, key: str, stored: StoredSession) -> None:
        self._write(key, stored, nx=True)

    def update(self, key: str, stored: StoredSession) -> bool:
        # SET ... XX: written only if the key still exists, atomically in Redis.
        return self._write(key, stored, xx=True)

    def delete(self, key: str) -> None:
        self._redis.delete(self._prefix + key)


class ServerSideSession(CallbackDict[str, Any], SessionMixin):
    """The session of one request. ``token`` is None until it is first stored."""

    def __init__(
        self,
        initial: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        created_at: dt.datetime | None = None,
        last_seen_at: dt.datetime | None = None,
        readonly: bool = False,
    ) -> None:
        def on_update(_self: CallbackDict[str, Any]) -> None:
            self.modified = True
            self.accessed = True

        super().__init__(initial or {}, on_update)
        self.token = token
        self.created_at = created_at
        self.last_seen_at = last_seen_at
        self.readonly = readonly
        self.modified = False
        self.accessed = False
        # Keys whose stored sessions must go when this response is saved.
        self.retired_keys: list[str] = []

    @property
    def new(self) -> bool:  # type: ignore[override]
        return self.token is None

    def __getitem__(self, key: str) -> Any:
        self.accessed = True
        return super().__getitem__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().get(key, default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.accessed = True
        return super().setdefault(key, default)

    def regenerate(self) -> None:
        """Keep the data under a new token; the old token stops working (call at login)."""
        if self.token is not None:
            self.retired_keys.append(_key(self.token))
        self.token = None
        self.created_at = None
        self.modified = True
        self.accessed = True

    def destroy(self) -> None:
        """Forget everything and delete the stored session (call at logout)."""
        self.clear()
        self.regenerate()


#: Machine clients sign every request and have no browser session: their cookies are not
#: read and no session is stored or sent for them (reading the cookie cost ~2 % of a request).
MACHINE_API_PREFIX = "/api/"


class ServerSessionInterface(SessionInterface):
    """Flask's hook for sessions, backed by a :class:`SessionStore`."""

    def __init__(self, store: SessionStore, settings: Settings) -> None:
        self.store = store
        self.idle = dt.timedelta(minutes=settings.session_idle_minutes)
        self.absolute = dt.timedelta(hours=settings.session_absolute_hours)
        self.secure = settings.base_url.startswith("https://")
        self.cookie_name = SECURE_COOKIE_NAME if self.secure else COOKIE_NAME
        # Tests move time forward by replacing this.
        self.clock: Callable[[], dt.datetime] = utcnow

    # -- Flask's interface -------------------------------------------------------------

    def open_session(self, app: Flask, request: Request) -> ServerSideSession:
        static = app.static_url_path or "/static"
        if request.path.startswith((static + "/", MACHINE_API_PREFIX)):
            return ServerSideSession(readonly=True)
        token = request.cookies.get(self.cookie_name)
        if not token or len(token) > 128:
            return ServerSideSession()
        key = _key(token)
        stored = self.store.load(key)
        if stored is None:
            return ServerSideSession()
        now = self.clock()
        if self._expired(stored, now):
            self.store.delete(key)
            return ServerSideSession()
        return ServerSideSession(
            stored.data,
            token=token,
            created_at=stored.created_at,
            last_seen_at=stored.last_seen_at,
        )

    def save_session(self, app: Flask, session: SessionMixin, response: Response) -> None:
        if not isinstance(session, ServerSideSession) or session.readonly:
            return
        for key in session.retired_keys:
            self.store.delete(key)
        if session.accessed:
            response.vary.add("Cookie")
        had_cookie = bool(session.retired_keys) or session.token is not None
        if not session:
            # Nothing worth keeping: no stored session and no cookie.
            if session.token is not None:
                self.store.delete(_key(session.token))
            if had_cookie:
                self._delete_cookie(response)
            return
        now = self.clock()
        if session.token is None:
            session.token = secrets.token_urlsafe(32)
            session.created_at = now
            session.last_seen_at = now
            self.store.create(_key(session.token), self._stored(session, now))
            self._set_cookie(response, session.token)
            return
        stale = session.last_seen_at is None or now - session.last_seen_at >= TOUCH_INTERVAL
        if (session.modified or stale) and not self.store.update(
            _key(session.token), self._stored(session, now)
        ):
            # Deleted while this request ran (a logout in another tab): it stays gone, and
            # so does this browser's cookie.
            self._delete_cookie(response)

    # -- for tests and tools -----------------------------------------------------------

    def create(self, data: dict[str, Any]) -> str:
        """Store a new session holding ``data`` and return its cookie token."""
        token = secrets.token_urlsafe(32)
        now = self.clock()
        self.store.create(
            _key(token),
            StoredSession(dict(data), now, now, self._expires_at(now, now)),
        )
        return token

    def load(self, token: str) -> StoredSession | None:
        return self.store.load(_key(token))

    # -- inside ------------------------------------------------------------------------

    def _expires_at(self, created_at: dt.datetime, last_seen_at: dt.datetime) -> dt.datetime:
        return min(last_seen_at + self.idle, created_at + self.absolute)

    def _expired(self, stored: StoredSession, now: dt.datetime) -> bool:
        return (
            now >= stored.expires_at
            or now - stored.last_seen_at >= self.idle
            or now - stored.created_at >= self.absolute
        )

    def _stored(self, session: ServerSideSession, now: dt.datetime) -> StoredSession:
        assert session.created_at is not None
        session.last_seen_at = now
        return StoredSession(
            dict(session), session.created_at, now, self._expires_at(session.created_at, now)
        )

    def _set_cookie(self, response: Response, token: str) -> None:
        # No Expires: the cookie dies with the browser; the server enforces both timeouts.
        response.set_cookie(
            self.cookie_name,
            token,
            path="/",
            secure=self.secure,
            httponly=True,
            samesite="Lax",
        )

    def _delete_cookie(self, response: Response) -> None:
        response.delete_cookie(
            self.cookie_name, path="/", secure=self.secure, httponly=True, samesite="Lax"
        )


def session_interface(app: Flask) -> ServerSessionInterface:
    return app.extensions[_EXTENSION]  # type: ignore[no-any-return]


def init_app(app: Flask, settings: Settings) -> None:
    """Install the server-side session interface chosen by ``settings.session_backend``."""
    store: SessionStore
    if settings.session_backend == "redis":
        import redis

        store = RedisStore(redis.Redis.from_url(settings.redis_url), settings.session_redis_prefix)
    else:
        store = DatabaseStore(app)
    interface = ServerSessionInterface(store, settings)
    app.session_interface = interface
    app.extensions[_EXTENSION] = interface

"""Who logs in: citizens (keyed by issuer + subject), staff principals, server-side sessions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import Base, UTCDateTime, utcnow
from portal.db_encryption import EncryptedJSON


class CitizenAccount(Base):
    """A citizen as known by an identity provider, linked to cases by the CPR lookup key."""

    __tablename__ = "citizen_account"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class StaffPrincipal(Base):
    """A caseworker, auditor or administrator from the municipality's identity provider."""

    __tablename__ = "staff_principal"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    issuer: Mapped[str] = mapped_column(String(300))
    subject: Mapped[str] = mapped_column(String(300))
    role: Mapped[str] = mapped_column(String(20))  # caseworker | auditor | admin
    unit: Mapped[str] = mapped_column(String(200))
    # Shown to colleagues and auditors only, never to citizens.
    display_name: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_login_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class ServerSession(Base):
    """A login session kept on the server; the cookie holds only a random token.

    The key is the sha256 of that token, so a database dump gives no live sessions.
    """

    __tablename__ = "server_session"

    key: Mapped[str] = mapped_column(String(64), primary_key=True)
    data: Mapped[dict[str, Any]] = mapped_column(EncryptedJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

"""Requests a citizen makes about a decision: human review (GDPR art. 22(3)) and
rectification of wrong data (art. 16)."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, EncryptedJSON, UTCDateTime, new_public_id, utcnow
from portal.decisions.models import Decision


class CitizenRequest(Base):
    __tablename__ = "citizen_request"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), index=True)
    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    kind: Mapped[str] = mapped_column(String(20))  # human-review | rectification
    # The data point a rectification is about (a manifest feature key), if any.
    feature_key: Mapped[str | None] = mapped_column(String(100))
    message: Mapped[str] = mapped_column(EncryptedJSON)
    # received -> in-progress -> answered | closed
    status: Mapped[str] = mapped_column(String(20), default="received")
    answer: Mapped[str | None] = mapped_column(EncryptedJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    decision: Mapped[Decision] = relationship()

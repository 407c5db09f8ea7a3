"""Requests a citizen makes about a decision: human review (GDPR art. 22(3)) and
rectification of wrong data (art. 16); "Mine data" PDFs built by the worker."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, new_public_id, utcnow
from portal.db_encryption import EncryptedJSON
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


class PdfExport(Base):
    """A citizen's "Mine data" PDF too large to make during a request, built by the worker
    (``portal.cases.exports``). Only its owner (``subject_key``) may fetch it; the file is
    AES-GCM ciphertext bound to this row's public id, and it is deleted after
    ``expires_at``."""

    __tablename__ = "pdf_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    subject_key: Mapped[str] = mapped_column(String(64), index=True)
    # The language the citizen read the portal in when asking (the PDF's language).
    locale: Mapped[str] = mapped_column(String(8))
    # pending -> ready | failed
    status: Mapped[str] = mapped_column(String(20), default="pending")
    job_id: Mapped[int | None] = mapped_column(ForeignKey("job.id"), unique=True)
    body: Mapped[bytes | None] = mapped_column(LargeBinary)
    size: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ready_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    expires_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, index=True)

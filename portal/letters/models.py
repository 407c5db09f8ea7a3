"""The caseworker's oversight record and the letter attachment (bilag) with its code."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.auth.models import StaffPrincipal
from portal.db import Base, UTCDateTime, new_public_id, utcnow
from portal.db_encryption import EncryptedJSON
from portal.decisions.models import Decision


class OversightRecord(Base):
    """A caseworker agreed with or overrode the model, and why (accountability)."""

    __tablename__ = "oversight_record"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff_principal.id"))
    verdict: Mapped[str] = mapped_column(String(20))  # agreed | overrode
    # Names the row in the reason's ciphertext (portal.db_encryption.row_key_column):
    # known before insert.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    reason: Mapped[str | None] = mapped_column(EncryptedJSON)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    decision: Mapped[Decision] = relationship()
    staff: Mapped[StaffPrincipal] = relationship()


class LetterAttachment(Base):
    """A generated bilag; the public can check its verification code at /bekraeft/<code>."""

    __tablename__ = "letter_attachment"

    id: Mapped[int] = mapped_column(primary_key=True)
    decision_id: Mapped[int] = mapped_column(ForeignKey("decision.id"), index=True)
    verification_code: Mapped[str] = mapped_column(String(32), unique=True)
    pdf_sha256: Mapped[str] = mapped_column(String(64), index=True)
    language: Mapped[str] = mapped_column(String(5), default="da")
    created_by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff_principal.id"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    decision: Mapped[Decision] = relationship()

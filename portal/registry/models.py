"""Machine clients (decision-support systems), their webhook secrets, and model versions."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import Base, UTCDateTime, new_public_id, utcnow
from portal.db_encryption import EncryptedJSON


class System(Base):
    """A decision-support system that posts decisions to the portal."""

    __tablename__ = "system"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    responsible_unit: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")  # active | disabled
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    disabled_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    secrets: Mapped[list[WebhookSecret]] = relationship(
        back_populates="system", order_by="WebhookSecret.id"
    )


class WebhookSecret(Base):
    """One ``whsec_`` signing secret; several may be valid at once during rotation."""

    __tablename__ = "webhook_secret"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("system.id"), index=True)
    # Names the row in the secret's ciphertext (portal.db_encryption.row_key_column):
    # known before insert.
    public_id: Mapped[str] = mapped_column(String(32), unique=True, default=new_public_id)
    # Encrypted with the portal key ring: a database dump does not reveal the secret.
    secret: Mapped[str] = mapped_column(EncryptedJSON)
    # First characters of sha256(secret), to tell secrets apart in listings and logs.
    fingerprint: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    # The old secret keeps working until this moment after a rotation; None: no end.
    valid_until: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)

    system: Mapped[System] = relationship(back_populates="secrets")


class ModelVersion(Base):
    """An immutable registered model version: manifest, hashes and status (bytes in ``files``)."""

    __tablename__ = "model_version"
    __table_args__ = (UniqueConstraint("name", "version"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), index=True)
    version: Mapped[str] = mapped_column(String(50))
    # registered -> active -> retired; only an active version accepts decisions.
    status: Mapped[str] = mapped_column(String(20), default="registered")
    manifest: Mapped[dict[str, Any]]
    responsible_unit: Mapped[str] = mapped_column(String(200))
    artifact_sha256: Mapped[str] = mapped_column(String(64))
    background_sha256: Mapped[str | None] = mapped_column(String(64))
    explainer_kind: Mapped[str | None] = mapped_column(String(20))
    # Warnings found at registration (e.g. a costly model); shown to auditors.
    warnings: Mapped[list[Any]] = mapped_column(default=list)
    registered_by_system_id: Mapped[int | None] = mapped_column(ForeignKey("system.id"))
    registered_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    activated_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    retired_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    notes: Mapped[str | None] = mapped_column(Text)

    # The bytes live in a table of their own: SQLite stores a row's columns in order, so a
    # blob in this row would make every read of the columns after it walk the blob's
    # overflow pages (the decision webhook looks a version up on every request).
    files: Mapped[ModelArtifact] = relationship(cascade="all, delete-orphan")


class ModelArtifact(Base):
    """The artifact (``.skops``) and background CSV of a model version, one row per version."""

    __tablename__ = "model_artifact"

    model_version_id: Mapped[int] = mapped_column(ForeignKey("model_version.id"), primary_key=True)
    artifact: Mapped[bytes] = mapped_column(LargeBinary)
    background: Mapped[bytes | None] = mapped_column(LargeBinary)


class ModelGrant(Base):
    """Lets a system post decisions to a model it did not register: every version of the
    model (``model_version`` None) or one version. Granted and revoked with the CLI."""

    __tablename__ = "model_grant"

    id: Mapped[int] = mapped_column(primary_key=True)
    system_id: Mapped[int] = mapped_column(ForeignKey("system.id"))
    model_name: Mapped[str] = mapped_column(String(100))
    model_version: Mapped[str | None] = mapped_column(String(50))
    granted_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)

    def __repr__(self) -> str:
        return f"<ModelGrant {self.system_id} {self.model_name}/{self.model_version or '*'}>"


Index("ix_model_grant_system_model", ModelGrant.system_id, ModelGrant.model_name)
Index("ix_model_version_status_name", ModelVersion.status, ModelVersion.name)

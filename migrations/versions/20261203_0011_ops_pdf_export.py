"""pdf_export: a citizen's large "Mine data" PDF, built by the worker

A "Mine data" PDF with many decisions is not made during the request: an ``export-pdf``
job builds it, and the file is stored here (AES-GCM ciphertext bound to the row's public
id) for its owner only, until ``expires_at``.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import portal.db

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "pdf_export",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("public_id", sa.String(length=32), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("locale", sa.String(length=8), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("job_id", sa.Integer(), nullable=True),
        sa.Column("body", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=True),
        sa.Column("created_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ready_at", portal.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", portal.db.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["job_id"], ["job.id"], name=op.f("fk_pdf_export_job_id_job")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pdf_export")),
        sa.UniqueConstraint("job_id", name=op.f("uq_pdf_export_job_id")),
        sa.UniqueConstraint("public_id", name=op.f("uq_pdf_export_public_id")),
    )
    with op.batch_alter_table("pdf_export", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_pdf_export_expires_at"), ["expires_at"], unique=False)
        batch_op.create_index(
            batch_op.f("ix_pdf_export_subject_key"), ["subject_key"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("pdf_export", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_pdf_export_subject_key"))
        batch_op.drop_index(batch_op.f("ix_pdf_export_expires_at"))
    op.drop_table("pdf_export")

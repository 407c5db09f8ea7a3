"""letter_attachment.pdf_sha256 indexed: public verification finds an uploaded PDF by its hash

An upload to /bekraeft is checked by looking its sha256 up among the issued attachments
(the fast path for a genuine file, without reading the PDF). Only an index is added.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03 12:00:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("letter_attachment", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_letter_attachment_pdf_sha256"), ["pdf_sha256"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("letter_attachment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_letter_attachment_pdf_sha256"))

"""model artifact table: the artifact and background blobs move out of model_version

SQLite stores a row's columns in order, so with the blobs in ``model_version`` every read of
a column after them (``artifact_sha256``, ``status`` lookups by the decision webhook, every
ORM load) walked the blobs' overflow pages.

The columns are dropped in place (``recreate="never"``: SQLite's own ``ALTER TABLE ... DROP
COLUMN``, which rewrites the rows without them) rather than by batch mode's copy-and-move:
with ``PRAGMA foreign_keys=ON`` (portal.db) dropping the old ``model_version`` table fails as
soon as a decision or a ``model_artifact`` row refers to it, and the pragma cannot be turned
off inside the migration's transaction.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 10:51:32.658468
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "model_artifact",
        sa.Column("model_version_id", sa.Integer(), nullable=False),
        sa.Column("artifact", sa.LargeBinary(), nullable=False),
        sa.Column("background", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(
            ["model_version_id"],
            ["model_version.id"],
            name=op.f("fk_model_artifact_model_version_id_model_version"),
        ),
        sa.PrimaryKeyConstraint("model_version_id", name=op.f("pk_model_artifact")),
    )
    op.execute(
        "INSERT INTO model_artifact (model_version_id, artifact, background) "
        "SELECT id, artifact, background FROM model_version"
    )
    with op.batch_alter_table("model_version", schema=None, recreate="never") as batch_op:
        batch_op.drop_column("background")
        batch_op.drop_column("artifact")


def downgrade() -> None:
    # Nullable: a column added to a table with rows cannot be NOT NULL without a default, and
    # making it NOT NULL afterwards would need the copy-and-move that the foreign keys refuse.
    with op.batch_alter_table("model_version", schema=None) as batch_op:
        batch_op.add_column(sa.Column("artifact", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("background", sa.LargeBinary(), nullable=True))
    op.execute(
        "UPDATE model_version SET "
        "artifact = (SELECT a.artifact FROM model_artifact a"
        " WHERE a.model_version_id = model_version.id), "
        "background = (SELECT a.background FROM model_artifact a"
        " WHERE a.model_version_id = model_version.id)"
    )
    op.drop_table("model_artifact")

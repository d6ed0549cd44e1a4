"""Big candidate libraries live in Parquet files that the database references

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 19:30:00

* ``library_tables``: one row per import of a big library's candidate table
  (:mod:`campaigns.library_store`): the file's path, SHA-256, row count, size and columns. The
  rows themselves stay in the file; measured rows stay in ``measurements`` as before. Existing
  library campaigns keep their ``candidates`` rows.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "library_tables",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("path", sa.Text(), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("n_rows", _BIGINT, nullable=False),
        sa.Column("size_bytes", _BIGINT, nullable=False),
        sa.Column("columns", sa.JSON(), nullable=False),
        sa.Column("categorical", sa.JSON(), nullable=False),
        sa.Column("id_column", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=500), nullable=False),
        sa.Column("imported_by", sa.String(length=200), nullable=False),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_library_tables_campaign_id", "library_tables", ["campaign_id"])


def downgrade() -> None:
    op.drop_index("ix_library_tables_campaign_id", table_name="library_tables")
    op.drop_table("library_tables")

"""Shared-dataset rows are append-only: a re-pull that changes a row adds a version

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 18:00:00

* ``shared_rows.supersedes_id`` points to the version a row replaces, as for measurements; the
  current version of a (source, row ID) is the one no row supersedes.
* The unique constraint on (``source_id``, ``row_id``) gives way to the two indexes that keep
  one chain per row, as 0003 does for measurements: one root per (source, row ID)
  (``supersedes_id IS NULL``) and no version superseded twice.
* Existing rows become the first, and current, versions (``supersedes_id`` NULL): the values a
  model read before the upgrade are the values it reads after.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

#: Names reflected unnamed constraints get on SQLite, so the rebuilt table can drop one.
_CONVENTION = {"uq": "uq_%(table_name)s_%(column_0_N_name)s"}


def _pair_constraint(conn: sa.Connection) -> str:
    """Name of the unique constraint on (source_id, row_id) (unnamed on SQLite)."""
    for uc in sa.inspect(conn).get_unique_constraints("shared_rows"):
        if uc["column_names"] == ["source_id", "row_id"] and uc.get("name"):
            return str(uc["name"])
    return "uq_shared_rows_source_id_row_id"


@contextmanager
def _self_references_set_aside(conn: sa.Connection) -> Iterator[None]:
    """On SQLite, clear ``duplicate_of_id`` while the table is rebuilt, then put it back.

    SQLite rebuilds the table (copy, drop the old one, rename the copy) inside the upgrade's
    transaction, with foreign keys on: dropping the old table would break the copy's references
    to it (a row marked as the duplicate of another), and the foreign-key pragmas cannot change
    inside a transaction. With no references during the rebuild there is nothing to break.
    """
    if conn.dialect.name != "sqlite":
        yield
        return
    links = conn.execute(sa.text("SELECT id, duplicate_of_id FROM shared_rows "
                                 "WHERE duplicate_of_id IS NOT NULL")).all()
    conn.execute(sa.text("UPDATE shared_rows SET duplicate_of_id = NULL"))
    yield
    for row_id, dup in links:
        conn.execute(sa.text("UPDATE shared_rows SET duplicate_of_id = :dup WHERE id = :id"),
                     {"dup": dup, "id": row_id})


def upgrade() -> None:
    conn = op.get_bind()
    name = _pair_constraint(conn)
    with _self_references_set_aside(conn), op.batch_alter_table(
            "shared_rows", naming_convention=_CONVENTION) as batch_op:
        batch_op.add_column(sa.Column(
            "supersedes_id", sa.Integer(),
            sa.ForeignKey("shared_rows.id", name="fk_shared_rows_supersedes_id_shared_rows"),
            nullable=True))
        batch_op.drop_constraint(name, type_="unique")
        batch_op.create_index("ix_shared_rows_supersedes_id", ["supersedes_id"], unique=True)
        batch_op.create_index("uq_shared_rows_root", ["source_id", "row_id"], unique=True,
                              sqlite_where=sa.text("supersedes_id IS NULL"),
                              postgresql_where=sa.text("supersedes_id IS NULL"))


def downgrade() -> None:
    """Back to one row per (source, row ID): the current versions stay, earlier ones go."""
    conn = op.get_bind()
    op.drop_index("uq_shared_rows_root", table_name="shared_rows")
    rows = conn.execute(sa.text("SELECT id, supersedes_id FROM shared_rows "
                                "ORDER BY id")).all()
    newer = {old: new for new, old in rows if old is not None}

    def current(i: int) -> int:
        while i in newer:
            i = newer[i]
        return i

    for old in sorted(newer):
        conn.execute(sa.text("UPDATE shared_rows SET duplicate_of_id = :cur "
                             "WHERE duplicate_of_id = :old"), {"cur": current(old), "old": old})
    conn.execute(sa.text("UPDATE shared_rows SET supersedes_id = NULL"))
    for old in sorted(newer):
        conn.execute(sa.text("DELETE FROM shared_rows WHERE id = :id"), {"id": old})
    with _self_references_set_aside(conn), op.batch_alter_table(
            "shared_rows", naming_convention=_CONVENTION) as batch_op:
        batch_op.drop_index("ix_shared_rows_supersedes_id")
        batch_op.drop_column("supersedes_id")
        batch_op.create_unique_constraint("uq_shared_rows_source_id_row_id",
                                          ["source_id", "row_id"])

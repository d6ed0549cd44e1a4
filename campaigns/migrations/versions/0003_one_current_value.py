"""One current value per (well, quantity), enforced by the database; 64-bit seeds

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 16:10:00

* ``batches.seed`` and ``wells.seed`` become BIGINT on PostgreSQL: default seeds go up to
  2**32 - 1 (SQLite's INTEGER is 64-bit already).
* Measurement chains are repaired, then locked in by two unique indexes: one root per
  (well, quantity) (``supersedes_id IS NULL``) and no row superseded twice. Databases written by
  earlier versions could hold two "current" values after two uploads raced; each such row now
  supersedes the chain's latest value before it (the value the model already used stays
  current), and every relinked row is written to the audit log.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _repair_chains(conn: sa.Connection) -> None:
    rows = conn.execute(sa.text(
        "SELECT m.id, m.well_id, m.quantity, m.supersedes_id, b.campaign_id "
        "FROM measurements m JOIN wells w ON w.id = m.well_id JOIN batches b ON b.id = w.batch_id "
        "ORDER BY m.id")).all()
    tails: dict[tuple[int, str], int] = {}
    campaign_of: dict[tuple[int, str], int] = {}
    relinks: list[tuple[int, int | None, int, int]] = []
    for mid, well_id, quantity, supersedes, campaign_id in rows:
        key = (well_id, quantity)
        tail = tails.get(key)
        if tail is not None and supersedes != tail:
            # A second root, or a fork (its target was superseded already): chain it after the
            # latest value, which is what the planner read as current all along.
            relinks.append((mid, supersedes, tail, campaign_id))
        tails[key] = mid
        campaign_of[key] = campaign_id
    if not relinks:
        return
    audit = sa.table("audit_log", sa.column("at", sa.DateTime(timezone=True)),
                     sa.column("actor", sa.String), sa.column("action", sa.String),
                     sa.column("campaign_id", sa.Integer), sa.column("detail", sa.JSON))
    by_campaign: dict[int, list[dict[str, int | None]]] = defaultdict(list)
    for mid, old, new, campaign_id in relinks:
        conn.execute(sa.text("UPDATE measurements SET supersedes_id = :new WHERE id = :id"),
                     {"new": new, "id": mid})
        by_campaign[campaign_id].append(
            {"measurement_id": mid, "old_supersedes_id": old, "new_supersedes_id": new})
    now = datetime.now(UTC)
    op.bulk_insert(audit, [
        {"at": now, "actor": "migration 0003", "action": "measurements.repair_chains",
         "campaign_id": campaign_id,
         "detail": {"reason": "two current values for one well and quantity (a past upload "
                              "race); the later value now supersedes the earlier one",
                    "relinked": items}}
        for campaign_id, items in by_campaign.items()
    ])


def upgrade() -> None:
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        for table in ("batches", "wells"):
            op.alter_column(table, "seed", type_=sa.BigInteger(), existing_type=sa.Integer(),
                            existing_nullable=table == "wells")
    _repair_chains(conn)
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index("ix_measurements_supersedes_id")
        batch_op.create_index("ix_measurements_supersedes_id", ["supersedes_id"], unique=True)
        batch_op.create_index("uq_measurements_root", ["well_id", "quantity"], unique=True,
                              sqlite_where=sa.text("supersedes_id IS NULL"),
                              postgresql_where=sa.text("supersedes_id IS NULL"))


def downgrade() -> None:
    with op.batch_alter_table("measurements", schema=None) as batch_op:
        batch_op.drop_index("uq_measurements_root")
        batch_op.drop_index("ix_measurements_supersedes_id")
        batch_op.create_index("ix_measurements_supersedes_id", ["supersedes_id"], unique=False)
    conn = op.get_bind()
    if conn.dialect.name != "sqlite":
        for table in ("batches", "wells"):
            op.alter_column(table, "seed", type_=sa.Integer(), existing_type=sa.BigInteger(),
                            existing_nullable=table == "wells")

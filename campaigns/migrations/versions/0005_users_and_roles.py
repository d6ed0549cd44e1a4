"""User accounts, per-campaign roles and a hash chain over the audit log

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05 10:00:00

* ``users``: people who sign in (scrypt password hashes, a site-wide admin flag). The table
  starts empty: a database without users works as before, with nothing checked.
* ``campaign_roles``: one role (viewer, chemist, owner) per user and campaign.
* ``audit_chain`` and ``audit_head``: every audit entry gets a SHA-256 link to the one before it
  (:mod:`campaigns.audit`). Existing entries are linked now, oldest first, so
  ``planner audit verify`` covers the whole history from this upgrade on.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_BIGINT = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("password_hash", sa.String(length=300), nullable=False),
        sa.Column("admin", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("name"),
    )
    op.create_table(
        "campaign_roles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("campaign_id", sa.Integer(), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.Column("granted_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["campaign_id"], ["campaigns.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("user_id", "campaign_id"),
    )
    op.create_index("ix_campaign_roles_campaign_id", "campaign_roles", ["campaign_id"])
    op.create_index("ix_campaign_roles_user_id", "campaign_roles", ["user_id"])
    op.create_table(
        "audit_chain",
        sa.Column("audit_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", _BIGINT, nullable=False),
        sa.Column("prev_sha256", sa.String(length=64), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["audit_id"], ["audit_log.id"]),
        sa.PrimaryKeyConstraint("audit_id"),
        sa.UniqueConstraint("position"),
    )
    op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("position", _BIGINT, nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    from campaigns.audit import chain_existing

    chain_existing(op.get_bind())


def downgrade() -> None:
    op.drop_table("audit_head")
    op.drop_table("audit_chain")
    op.drop_index("ix_campaign_roles_user_id", table_name="campaign_roles")
    op.drop_index("ix_campaign_roles_campaign_id", table_name="campaign_roles")
    op.drop_table("campaign_roles")
    op.drop_table("users")

"""Initial schema: users, deliveries, issued_keys, delivery_events, pickup_links, ptb_persistence.

Hand-checked against storage/models.py (tests/storage/test_migrations.py compares the two on SQLite and
PostgreSQL). Frozen: this file never imports the models.
- Telegram ids are BIGINT without autoincrement (users.id is a plain BIGINT primary key).
- Times are TIMESTAMP WITH TIME ZONE (storage.types.UTCDateTime; SQLite keeps them as text).
- Enums are their values in VARCHAR(32): no native PG ENUM, no CHECK, so a new state needs no migration.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _tg_id(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.BigInteger(), autoincrement=False, nullable=nullable)


def _when(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _enum(name: str, *, nullable: bool = False) -> sa.Column:
    return sa.Column(name, sa.String(length=32), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "users",
        _tg_id("id", nullable=False),
        sa.Column("first_name", sa.String(), nullable=False),
        sa.Column("last_name", sa.String(), nullable=True),
        sa.Column("username", sa.String(), nullable=True),
        sa.Column("language", sa.String(), nullable=True),
        _enum("role"),
        _when("created_at", nullable=False),
        _when("last_seen_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_users_username", "users", ["username"])

    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer(), nullable=False),
        _tg_id("sender_id", nullable=False),
        _enum("state"),
        sa.Column("location_id", sa.Integer(), nullable=False),
        sa.Column("location_name", sa.String(), nullable=False),
        sa.Column("address", sa.String(), nullable=False),
        sa.Column("timezone", sa.String(), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("tower_id", sa.String(), nullable=True),
        sa.Column("locker_id", sa.Integer(), nullable=True),
        sa.Column("locker_name", sa.String(), nullable=True),
        sa.Column("size_id", sa.Integer(), nullable=False),
        sa.Column("size_name", sa.String(), nullable=False),
        sa.Column("low_locker", sa.Boolean(), nullable=False),
        _when("reserved_until"),
        _when("dropped_at"),
        _when("completed_at"),
        _when("closed_at"),
        _enum("collector_kind", nullable=True),
        _tg_id("collector_id"),
        _when("reminder_due_at"),
        _when("reminded_at"),
        _tg_id("status_chat_id"),
        sa.Column("status_message_id", sa.Integer(), nullable=True),
        _when("created_at", nullable=False),
        _when("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_deliveries_sender_id", "deliveries", ["sender_id"])
    op.create_index("ix_deliveries_state", "deliveries", ["state"])
    op.create_index("ix_deliveries_collector_id", "deliveries", ["collector_id"])
    op.create_index("ix_deliveries_created_at", "deliveries", ["created_at"])
    op.create_index("ix_deliveries_state_updated", "deliveries", ["state", "updated_at"])

    op.create_table(
        "issued_keys",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        _enum("kind"),
        _tg_id("user_id", nullable=False),
        _tg_id("chat_id", nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("harbor_token_id", sa.String(), nullable=True),
        _enum("state"),
        _when("expires_at", nullable=False),
        _when("created_at", nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_issued_keys_delivery_id", "issued_keys", ["delivery_id"])
    op.create_index("ix_issued_keys_state", "issued_keys", ["state"])

    op.create_table(
        "delivery_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        _when("at", nullable=False),
        _tg_id("actor_id"),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("detail", sa.String(), nullable=False),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_delivery_events_delivery_id", "delivery_events", ["delivery_id"])

    op.create_table(
        "pickup_links",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.Text(), nullable=False),
        _when("created_at", nullable=False),
        _when("expires_at", nullable=False),
        _tg_id("claimed_by"),
        _when("claimed_at"),
        _when("revoked_at"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_hash"),
    )
    op.create_index("ix_pickup_links_delivery_id", "pickup_links", ["delivery_id"])

    op.create_table(
        "ptb_persistence",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(), nullable=False),
        sa.Column("key", sa.String(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        _when("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "key", name="uq_ptb_persistence_kind_key"),
    )
    op.create_index("ix_ptb_persistence_kind", "ptb_persistence", ["kind"])


def downgrade() -> None:
    for table in ("ptb_persistence", "pickup_links", "delivery_events", "issued_keys", "deliveries", "users"):
        op.drop_table(table)  # its indexes go with it

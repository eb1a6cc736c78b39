"""Exactly once under load: the inbox of Telegram updates and locks that hold no connection.

- inbox: every Telegram update by its `update_id`, recorded before it is acted on (a repeat is
  acknowledged and ignored) and leased while a process handles it (another takes it over when the
  lease runs out); open rows are indexed by chat, so "the oldest open update of this chat" costs what
  is in flight;
- lock_leases: the lock around a read-decide-write that spans a Harbor call, as a row with a lease
  instead of an advisory lock that held a pooled connection for the whole block.

Frozen: this file never imports the models.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_OPEN = "done_at IS NULL"


def _when(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "inbox",
        sa.Column("update_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=True),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("lease_owner", sa.String(), nullable=True),
        _when("lease_until"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("received_at", nullable=False),
        _when("done_at"),
        sa.PrimaryKeyConstraint("update_id"),
    )
    op.create_index("ix_inbox_done_at", "inbox", ["done_at"])
    op.create_index(
        "ix_inbox_open_chat",
        "inbox",
        ["chat_id", "update_id"],
        postgresql_where=sa.text(_OPEN),
        sqlite_where=sa.text(_OPEN),
    )
    op.create_table(
        "lock_leases",
        sa.Column("key", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("owner", sa.Text(), nullable=False),
        _when("lease_until", nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )


def downgrade() -> None:
    op.drop_table("lock_leases")
    op.drop_index("ix_inbox_open_chat", table_name="inbox")
    op.drop_index("ix_inbox_done_at", table_name="inbox")
    op.drop_table("inbox")

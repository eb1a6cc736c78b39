"""Indexes for what the scheduler asks every second, so its cost does not grow with the history.

- pickup_links: the live links by expiry (partial: unclaimed and not revoked). Without it the deadlines
  round read every link ever made, every second;
- outbox: the pending messages by due time, and by chat (partial: pending only). Without them each tick
  read the whole outbox, and its "oldest pending of the chat" test read every older row again.

Both are partial on SQLite and PostgreSQL alike: a sent message or a used link leaves the index, so
its size is what is in flight, not the history.

Frozen: this file never imports the models.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_LIVE_LINK = "claimed_at IS NULL AND revoked_at IS NULL"
_PENDING = "state = 'pending'"


def upgrade() -> None:
    op.create_index(
        "ix_pickup_links_live_expires",
        "pickup_links",
        ["expires_at"],
        postgresql_where=sa.text(_LIVE_LINK),
        sqlite_where=sa.text(_LIVE_LINK),
    )
    op.create_index(
        "ix_outbox_pending_due",
        "outbox",
        ["next_attempt_at"],
        postgresql_where=sa.text(_PENDING),
        sqlite_where=sa.text(_PENDING),
    )
    op.create_index(
        "ix_outbox_pending_chat",
        "outbox",
        ["chat_id", "id"],
        postgresql_where=sa.text(_PENDING),
        sqlite_where=sa.text(_PENDING),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_pending_chat", table_name="outbox")
    op.drop_index("ix_outbox_pending_due", table_name="outbox")
    op.drop_index("ix_pickup_links_live_expires", table_name="pickup_links")

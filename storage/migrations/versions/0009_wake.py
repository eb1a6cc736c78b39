"""Issue 18: an idle process sleeps until the next due time instead of asking every second.

- Partial indexes for the deadlines the wake query (storage/wake.py) takes the earliest of: holds by
  their end, reminders still to send by their time, active keys by their expiry (pickup links, the
  outbox and the chat states already have theirs);
- PostgreSQL only: triggers that `pg_notify('harbor_wake', <table>)` once per statement that writes a due
  time (a timer, an announcement, a hold, a key, a reminder, a link), so a sleeping process of any
  other process learns of it at once (bot/wake.py listens). The inbox needs none: its leases are never
  shorter than a process's longest sleep.

Frozen: this file never imports the models.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-08
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_HOLDING = "state IN ('awaiting_dropoff', 'reserved')"
_TO_REMIND = "state IN ('awaiting_pickup', 'in_locker') AND reminded_at IS NULL"
_ACTIVE_KEY = "state = 'active'"

CHANNEL = "harbor_wake"
# table -> the writes that may bring a due time earlier
_WATCHED = {
    "scheduled_jobs": "INSERT OR UPDATE",
    "outbox": "INSERT OR UPDATE OF next_attempt_at, lease_until, state",
    "deliveries": "INSERT OR UPDATE OF state, reserved_until, reminder_due_at, reminded_at",
    "issued_keys": "INSERT OR UPDATE OF state, expires_at",
    "pickup_links": "INSERT OR UPDATE OF expires_at, claimed_at, revoked_at",
}


def upgrade() -> None:
    op.create_index(
        "ix_deliveries_hold_due",
        "deliveries",
        ["reserved_until"],
        postgresql_where=sa.text(_HOLDING),
        sqlite_where=sa.text(_HOLDING),
    )
    op.create_index(
        "ix_deliveries_reminder_due",
        "deliveries",
        ["reminder_due_at"],
        postgresql_where=sa.text(_TO_REMIND),
        sqlite_where=sa.text(_TO_REMIND),
    )
    op.create_index(
        "ix_issued_keys_active_expires",
        "issued_keys",
        ["expires_at"],
        postgresql_where=sa.text(_ACTIVE_KEY),
        sqlite_where=sa.text(_ACTIVE_KEY),
    )
    if op.get_bind().dialect.name != "postgresql":
        return  # SQLite runs one process: it wakes itself on its own writes
    op.execute(
        f"""
        CREATE OR REPLACE FUNCTION harbor_wake() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            PERFORM pg_notify('{CHANNEL}', TG_TABLE_NAME);
            RETURN NULL;
        END
        $$
        """
    )
    for table, events in _WATCHED.items():
        op.execute(
            f"CREATE TRIGGER harbor_wake_{table} AFTER {events} ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION harbor_wake()"
        )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table in _WATCHED:
            op.execute(f"DROP TRIGGER IF EXISTS harbor_wake_{table} ON {table}")
        op.execute("DROP FUNCTION IF EXISTS harbor_wake()")
    op.drop_index("ix_issued_keys_active_expires", table_name="issued_keys")
    op.drop_index("ix_deliveries_reminder_due", table_name="deliveries")
    op.drop_index("ix_deliveries_hold_due", table_name="deliveries")

"""Many processes on one database: constraints, the drop-off step, shared timers, the outbox.

- deliveries: at most one pre-drop-off delivery per sender, at most one open delivery per locker
  (partial unique indexes, on SQLite and PostgreSQL alike);
- chat_states: the drop-off step of a chat, so any process can take the next update;
- scheduled_jobs: timers and the locker watch, claimed under a lease by one process at a time;
- outbox: announcements recorded before they are sent, sent once;
- harbor_events: ids of Harbor webhook events already handled;
- ptb_persistence goes: callback data are self-describing and conversations live in chat_states.

Data that breaks the new unique rules (possible only after a race the old in-process locks missed) is
closed first, oldest first, as `expired` with an event saying why: the newest delivery of each group
stays. Any locker such a delivery held at Harbor then shows as an orphan in /lockers, to release.

Frozen: this file never imports the models.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_PRE_DROPOFF = "state IN ('awaiting_dropoff', 'draft', 'reserved')"  # also used as d.<...> below
_OPEN_LOCKER = (
    "state IN ('awaiting_dropoff', 'awaiting_pickup', 'draft', 'in_locker', 'reserved') AND locker_id IS NOT NULL"
)


def _when(name: str, *, nullable: bool = True) -> sa.Column:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


_DUPLICATES = {
    # Older pre-drop-off deliveries of a sender who has a newer one.
    "one pre-drop-off delivery per sender": f"""
        SELECT d.id FROM deliveries d WHERE d.{_PRE_DROPOFF} AND EXISTS (
            SELECT 1 FROM deliveries n WHERE n.sender_id = d.sender_id AND n.id > d.id AND n.{_PRE_DROPOFF})""",
    # Older open deliveries on a locker a newer open delivery holds.
    "one open delivery per locker": f"""
        SELECT d.id FROM deliveries d WHERE d.{_OPEN_LOCKER} AND EXISTS (
            SELECT 1 FROM deliveries n WHERE n.tower_id = d.tower_id AND n.locker_id = d.locker_id
            AND n.id > d.id AND n.{_OPEN_LOCKER})""",
}


def _close_duplicates() -> None:
    bind = op.get_bind()
    for rule, query in _DUPLICATES.items():
        for (delivery_id,) in list(bind.execute(sa.text(query))):
            bind.execute(
                sa.text(
                    "UPDATE deliveries SET state = 'expired', closed_at = CURRENT_TIMESTAMP, "
                    "updated_at = CURRENT_TIMESTAMP WHERE id = :id"
                ),
                {"id": delivery_id},
            )
            bind.execute(
                sa.text(
                    "INSERT INTO delivery_events (delivery_id, at, kind, detail) "
                    "VALUES (:id, CURRENT_TIMESTAMP, 'migrated', :why)"
                ),
                {"id": delivery_id, "why": f"closed by migration 0002: {rule}"},
            )


def upgrade() -> None:
    _close_duplicates()
    op.create_index(
        "uq_deliveries_sender_pre_dropoff",
        "deliveries",
        ["sender_id"],
        unique=True,
        postgresql_where=sa.text(_PRE_DROPOFF),
        sqlite_where=sa.text(_PRE_DROPOFF),
    )
    op.create_index(
        "uq_deliveries_open_locker",
        "deliveries",
        ["tower_id", "locker_id"],
        unique=True,
        postgresql_where=sa.text(_OPEN_LOCKER),
        sqlite_where=sa.text(_OPEN_LOCKER),
    )
    op.create_table(
        "chat_states",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("step", sa.String(length=32), nullable=False),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        _when("updated_at", nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_index(op.f("ix_chat_states_updated_at"), "chat_states", ["updated_at"], unique=False)
    op.create_table(
        "scheduled_jobs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("ref", sa.String(), nullable=False),
        _when("due_at", nullable=False),
        _when("lease_until"),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("last_run_at"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("kind", "ref", name="uq_scheduled_jobs_kind_ref"),
    )
    op.create_index(op.f("ix_scheduled_jobs_due_at"), "scheduled_jobs", ["due_at"], unique=False)
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("dedupe_key", sa.Text(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("state", sa.String(length=32), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _when("next_attempt_at", nullable=False),
        _when("lease_until"),
        _when("created_at", nullable=False),
        _when("sent_at"),
        sa.Column("error", sa.String(), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    op.create_index(op.f("ix_outbox_next_attempt_at"), "outbox", ["next_attempt_at"], unique=False)
    op.create_table(
        "harbor_events",
        sa.Column("event_id", sa.Text(), nullable=False),
        _when("received_at", nullable=False),
        sa.PrimaryKeyConstraint("event_id"),
    )
    op.create_index(op.f("ix_harbor_events_received_at"), "harbor_events", ["received_at"], unique=False)
    op.drop_index(op.f("ix_ptb_persistence_kind"), table_name="ptb_persistence")
    op.drop_table("ptb_persistence")


def downgrade() -> None:
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
    op.create_index(op.f("ix_ptb_persistence_kind"), "ptb_persistence", ["kind"], unique=False)
    for table in ("harbor_events", "outbox", "scheduled_jobs", "chat_states"):
        op.drop_table(table)
    op.drop_index("uq_deliveries_open_locker", table_name="deliveries")
    op.drop_index("uq_deliveries_sender_pre_dropoff", table_name="deliveries")
